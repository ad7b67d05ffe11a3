import json
import math

import numpy as np
import pytest
import torch

from videogan.checkpoint import content_hash
from videogan.cli import main
from videogan.config import get_preset, replace
from videogan.data.synthetic import MOTIONS, SHAPES
from videogan.eval.builtin_score import inception_score, named_confidently, scores, shape_distribution
from videogan.eval.classifier import BuiltinClassifier, ClassifierConfig, load_classifier, resample, save_classifier
from videogan.eval.weights import WeightsError
from videogan.train.gan import train


def test_score_of_uniform_one_hot_and_collapsed_tables():
    k = 5
    assert inception_score(torch.full((10, k), 1 / k)) == pytest.approx(1.0)  # nobody is sure of anything
    assert inception_score(torch.eye(k).repeat(3, 1)) == pytest.approx(k)  # sure, and every class equally often
    collapsed = torch.zeros(10, k)
    collapsed[:, 2] = 1
    assert inception_score(collapsed) == pytest.approx(1.0)  # sure, but always the same class
    half = torch.eye(k)[:2].repeat(4, 1)  # sure, two classes equally often
    assert inception_score(half) == pytest.approx(2.0)


def test_shape_distribution_and_confidence_on_a_hand_made_table():
    presence = torch.tensor([[0.99, 0.01, 0.0, 0.0, 0.0],  # one clear shape
                             [0.95, 0.95, 0.0, 0.0, 0.0],  # two clear shapes
                             [0.5, 0.0, 0.0, 0.0, 0.0],  # undecided
                             [0.0, 0.0, 0.0, 0.0, 0.0],  # sees no object
                             [0.0, 0.0, 0.5, 0.0, 0.92]])  # one clear shape, one undecided
    motion = torch.tensor([[0.95, 0.05, 0, 0, 0], [0.0, 1.0, 0, 0, 0], [1.0, 0, 0, 0, 0], [1.0, 0, 0, 0, 0],
                           [0, 0, 0, 0.9, 0.1]])
    q = shape_distribution(presence)
    assert torch.allclose(q.sum(1), torch.ones(5, dtype=q.dtype))
    assert q[0, 0] == pytest.approx(0.99) and q[1, 0] == pytest.approx(0.5) and q[3, 0] == pytest.approx(0.2)
    assert named_confidently(presence, motion).tolist() == [True, True, False, False, True]
    unsure_motion = motion.clone()
    unsure_motion[0] = torch.tensor([0.6, 0.4, 0, 0, 0])
    assert not named_confidently(presence, unsure_motion)[0]
    out = scores(presence, motion)
    assert out["named_fraction"] == 0.6 and 1 <= out["shape_score"] <= 5 and 1 <= out["motion_score"] <= 5


@pytest.mark.parametrize("frames,size", [(16, 32), (8, 16), (32, 64), (5, 20)])
def test_classifier_takes_any_clip(frames, size):
    model = BuiltinClassifier().eval()
    video = torch.rand(2, 3, frames, size, size) * 2 - 1
    out = model(video)
    assert out["shapes"].shape == (2, len(SHAPES)) and out["motion"].shape == (2, len(MOTIONS))
    assert resample(video, 16, 32).shape == (2, 3, 16, 32, 32)


def test_resample_keeps_the_first_and_last_frames_and_averages_areas():
    video = torch.arange(32.0).view(1, 1, 32, 1, 1).expand(1, 3, 32, 4, 4)
    picked = resample(video, 16, 2)
    assert picked[0, 0, :, 0, 0].tolist()[0] == 0 and picked[0, 0, -1, 0, 0] == 31
    checker = torch.zeros(1, 3, 16, 4, 4)
    checker[..., ::2, ::2] = 1
    checker[..., 1::2, 1::2] = 1
    assert torch.allclose(resample(checker, 16, 2), torch.full((1, 3, 16, 2, 2), 0.5))


def test_weights_round_trip_with_weights_only_and_a_checked_hash(tmp_path):
    model = BuiltinClassifier(ClassifierConfig(width=4)).eval()
    path = tmp_path / "c.pt"
    sha = save_classifier(path, model, {"note": "test"})
    loaded = load_classifier(path)
    video = torch.rand(1, 3, 16, 32, 32)
    assert torch.equal(loaded(video)["motion"], model(video)["motion"]) and loaded.cfg.width == 4
    saved = torch.load(path, weights_only=True)
    assert saved["sha256"] == sha == content_hash(loaded.state_dict())
    saved["state_dict"]["motion.bias"] += 1  # damaged, hash left as it was
    torch.save(saved, path)
    with pytest.raises(WeightsError, match="sha256"):
        load_classifier(path)
    torch.save([1, 2], path)
    with pytest.raises(WeightsError, match="not classifier weights"):
        load_classifier(path)


def test_shipped_weights_load_and_name_real_videos():
    from videogan.data.synthetic import render_video, to_model_range

    model = load_classifier()  # checks the pinned sha256
    items = [render_video(2017, i, 16, 32) for i in range(16)]  # held-out seed
    probs = model.probabilities(torch.stack([to_model_range(it["video"]) for it in items]))
    right = (probs["motion"].argmax(1) == torch.tensor([it["label"] for it in items])).float().mean()
    assert right >= 0.75


def test_retrain_command_is_reproducible_and_measures_itself(tmp_path, capsys):
    outs = [tmp_path / "a.pt", tmp_path / "b.pt"]
    for out in outs:
        assert main(["classifier", "train", "--out", str(out), "--iterations", "2", "--batch-size", "4",
                     "--train-videos", "8", "--width", "4", "--n", "8"]) == 0
    first, second = (torch.load(out, weights_only=True) for out in outs)
    assert first["sha256"] == second["sha256"] and first["recipe"]["iterations"] == 2
    assert 0 <= first["recipe"]["held_out"]["motion_accuracy"] <= 1
    capsys.readouterr()
    assert main(["classifier", "accuracy", "--weights", str(outs[0]), "--n", "8"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 8
    # on variants of the held-out set (the score's ceiling for runs trained with these options)
    assert main(["classifier", "accuracy", "--n", "8", "--max-objects", "1", "--object-scale", "2"]) == 0
    measured = json.loads(capsys.readouterr().out)
    assert (measured["max_objects"], measured["object_scale"]) == (1, 2.0)
    from videogan.eval.classifier_train import render_set

    variant, default = render_set(2017, 4, ClassifierConfig(), 1, 2.0), render_set(2017, 4, ClassifierConfig())
    assert (variant["shapes"].sum(1) == 1).all() and not torch.equal(variant["video"], default["video"])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    train(replace(get_preset("tiny"), train={"iterations": 1, "device": "cpu"}), run, progress=False)
    return run


def test_evaluate_reports_the_score_and_its_real_ceiling(tiny_run, tmp_path):
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(tiny_run), "--n", "8", "--metrics", "builtin_score", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    for name in ("shape_score", "motion_score", "named_fraction"):
        for key in (f"builtin_{name}", f"builtin_{name}_real"):
            assert isinstance(result[key], float) and not math.isnan(result[key])
    assert 1 <= result["builtin_motion_score"] <= len(MOTIONS)


def test_evaluate_skips_the_score_on_other_data(tiny_run, tmp_path):
    from videos import write_video

    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(2):
        write_video(folder / f"{i}.mp4", np.full((8, 16, 16, 3), 40 * i, np.uint8))
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(tiny_run), "--data", str(folder), "--n", "2", "--metrics", "builtin_score,colour",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert "not the built-in dataset" in result["builtin_score_skipped"] and "builtin_shape_score" not in result
    assert "colour_w1" in result
