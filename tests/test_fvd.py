"""FVD pieces: the TF1 resize, the Fréchet distance, the pipeline end to end, and its CLI errors."""
import json

import numpy as np
import pytest
import scipy.linalg
import torch

from videogan.cli import main
from videogan.data.synthetic import render_video
from videogan.eval.fvd import (embed_videos, frechet_distance, frechet_distance_from_stats, fvd, gaussian_stats,
                               preprocess, resize_bilinear_tf1)
from videogan.eval.metrics import EvalContext, VideoSet, get_metric
from videogan.eval.weights import load_i3d


@pytest.fixture(scope="module")
def i3d():
    return load_i3d("cpu")


def test_resize_upsample_by_hand():
    image = torch.tensor([[0.0, 10.0], [20.0, 30.0]])
    # TF1, no half-pixel centres: output i samples input i * 2/4 = 0, .5, 1, 1.5 (clamped to the last pixel)
    expected = torch.tensor([[0, 5, 10, 10], [10, 15, 20, 20], [20, 25, 30, 30], [20, 25, 30, 30.0]])
    torch.testing.assert_close(resize_bilinear_tf1(image, 4), expected)


def test_resize_downsample_by_hand():
    row = torch.tensor([[0.0, 3.0, 6.0, 9.0]] * 4)
    # output i samples input i * 4/3 = 0, 1.333, 2.667; PyTorch's half-pixel default would give 0.5, 4.5, 8.5
    torch.testing.assert_close(resize_bilinear_tf1(row, 3)[0], torch.tensor([0.0, 4.0, 8.0]))


def test_preprocess_range_and_layout():
    video = np.zeros((10, 32, 48, 3), np.uint8)
    video[..., 0] = 255
    out = preprocess(video)  # 3 t 224 224
    assert out.shape == (3, 10, 224, 224)
    assert out[0].eq(1).all() and out[1:].eq(-1).all()


def test_frechet_closed_form_diagonal():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    # commuting covariances: |mu1 - mu2|^2 + sum (sqrt(v1) - sqrt(v2))^2 = 5 + (1 + 1 + 4)
    assert frechet_distance_from_stats(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(11.0)


def test_frechet_general_matches_sqrtm():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    s1, s2 = a @ a.T, b @ b.T
    expected = np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance_from_stats(np.zeros(5), s1, np.zeros(5), s2) == pytest.approx(expected)


def test_frechet_of_samples_uses_unbiased_covariance():
    x = np.array([[0.0], [2.0]])  # unbiased variance 2 (biased: 1)
    mu, sigma = gaussian_stats(x)
    assert mu == pytest.approx([1.0]) and sigma == pytest.approx(2.0)
    assert frechet_distance(x, x + 3) == pytest.approx(9.0)


def test_frechet_singular_self_distance():
    e = np.random.default_rng(1).standard_normal((5, 400))  # n < d: rank-deficient covariance
    assert abs(frechet_distance(e, e)) < 1e-9


def _videos(seed, n, frames=16, size=32):
    return [render_video(seed, i, frames, size)["video"] for i in range(n)]


def test_fvd_of_a_set_with_itself_is_zero(i3d):
    videos = _videos(0, 2)
    # through the registry, which `evaluate --metrics` uses; the CLI test below sees two different sets
    same = VideoSet(videos)
    assert abs(get_metric("fvd")(same, same, EvalContext(i3d=i3d, batch_size=2))["fvd"]) < 1e-6


def test_too_few_frames(i3d):
    with pytest.raises(ValueError, match="at least 9 frames"):
        fvd(_videos(0, 2, frames=8), _videos(1, 2, frames=8), i3d, frames=8)
    with pytest.raises(ValueError, match="video 0 has 8 frames"):
        embed_videos(_videos(0, 1, frames=8), i3d)


def test_cli_errors(tmp_path, capsys):
    assert main(["fvd", "synthetic", "synthetic:1", "--n", "2", "--frames", "8"]) == 2
    assert "at least 9 frames" in capsys.readouterr().err
    assert main(["fvd", "synthetic", "synthetic:1", "--n", "2", "--cache-dir", str(tmp_path)]) == 2
    assert "videogan weights i3d" in capsys.readouterr().err
    assert main(["fvd", str(tmp_path / "nowhere"), "synthetic", "--n", "2"]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err


def test_unknown_metric():
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        get_metric("nope")


def test_cli_json_records_protocol(tmp_path, i3d, monkeypatch):
    monkeypatch.setattr("videogan.cli.fvd.load_i3d", lambda device, cache: i3d)  # reuse the loaded model
    out = tmp_path / "fvd.json"
    assert main(["fvd", "synthetic:3", "synthetic:4", "--n", "2", "--size", "16", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["fvd"] > 0 and result["frames"] == 16 and result["a"]["data_seed"] == 3
    assert result["weights_sha256"].startswith("af5c50f0")
