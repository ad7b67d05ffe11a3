"""The metrics read from I3D embeddings beside FVD itself: `class_coverage` (which of the real data's classes the
generated videos are nearest to) and FVD's parts, with a stand-in for the I3D (a clip's mean colour), so the tests
need no weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from videogan.cli import main
from videogan.config import get_preset, replace
from videogan.eval import evaluate as evaluate_module
from videogan.eval.fvd import preprocess
from videogan.eval.metrics import EvalContext, VideoSet, get_metric
from videogan.eval.sources import open_source
from videogan.train.gan import train

COLOURS = {"bend": (200, 40, 40), "jack": (40, 200, 40), "wave": (40, 40, 200)}


class _MeanColour(torch.nn.Module):
    """Stands in for the I3D: b 3 t 224 224 -> b 3, each clip's mean colour; counts the clips it embeds."""

    def __init__(self):
        super().__init__()
        self.unit = torch.nn.Parameter(torch.ones(()))  # embed_videos finds the device from a parameter
        self.clips = 0

    def forward(self, clips):
        self.clips += len(clips)
        return clips.mean(dim=(2, 3, 4)) * self.unit


def _video(name: str, seed: int) -> np.ndarray:
    """9 8 8 3 uint8 (I3D takes 9 frames or more): the class's colour with a little noise."""
    noise = np.random.default_rng(seed).integers(-20, 21, (9, 8, 8, 3))
    return np.clip(np.array(COLOURS[name]) + noise, 0, 255).astype(np.uint8)


def _labelled(names: list[str], seed: int = 0) -> VideoSet:
    return VideoSet([_video(name, seed + i) for i, name in enumerate(names)], labels=names)


def _coverage(fake: VideoSet, real: VideoSet, model: torch.nn.Module | None = None) -> dict:
    return get_metric("class_coverage")(fake, real, EvalContext(i3d=model or _MeanColour(), frames=9))


def test_copies_of_every_class_cover_them_all():
    real = _labelled(["bend", "bend", "jack", "wave", "wave", "wave"])
    out = _coverage(VideoSet(real.videos[::-1]), real)  # the same videos, in another order
    assert out["class_share_tv"] == pytest.approx(0.0) and out["class_share_min_ratio"] == pytest.approx(1.0)
    assert out["class_shares"] == {name: pytest.approx({"generated": share, "real": share})
                                   for name, share in (("bend", 1 / 3), ("jack", 1 / 6), ("wave", 1 / 2))}


def test_a_generator_of_one_class_misses_the_other():
    real = _labelled(["bend", "bend", "bend", "wave"])
    fake = VideoSet([_video("bend", seed) for seed in range(10, 15)])  # other videos of one class
    out = _coverage(fake, real)
    assert out["class_share_min_ratio"] == 0.0
    assert out["class_share_tv"] == pytest.approx(0.25)  # the missed class's share of the real videos
    assert out["class_shares"]["bend"] == pytest.approx({"generated": 1.0, "real": 0.75})


def test_unlabelled_or_single_class_data_gives_nothing_and_embeds_nothing():
    model = _MeanColour()
    fake = VideoSet([_video("bend", 0), _video("wave", 1)])
    assert _coverage(fake, VideoSet(fake.videos), model) == {}
    assert _coverage(fake, _labelled(["wave", "wave"]), model) == {}
    assert model.clips == 0


def test_fvd_and_class_coverage_embed_each_set_once():
    model = _MeanColour()
    real = _labelled(["bend", "jack", "wave"])
    fake = VideoSet([_video(name, 20 + i) for i, name in enumerate(["bend", "bend", "jack", "wave"])])
    context = EvalContext(i3d=model, frames=9)
    assert get_metric("fvd")(fake, real, context)["fvd"] >= 0
    assert get_metric("class_coverage")(fake, real, context)["class_share_min_ratio"] == pytest.approx(0.25 / (1 / 3))
    assert model.clips == len(fake.videos) + len(real.videos)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A prepared dataset of one subfolder per class: 2 dark `bend` clips and 3 bright `wave` clips of 16 x 16 x 16."""
    from videos import moving_pattern, write_video

    src, out = tmp_path_factory.mktemp("classes"), tmp_path_factory.mktemp("prepared") / "people"
    for name, count, shade in (("bend", 2, lambda v: v // 4), ("wave", 3, lambda v: 128 + v // 2)):
        for i in range(count):
            write_video(src / name / f"{i}.mp4", shade(moving_pattern(16, 16, 16, seed=i)))
    assert main(["prepare", str(src), str(out), "--size", "16", "--frames", "16", "--no-stabilize"]) == 0
    return src, out


def test_a_prepared_dataset_of_class_folders_labels_its_clips(prepared):
    src, out = prepared
    for seed in range(3):  # subsets of 3 of the 5 clips: each label is its own clip's
        source = open_source(str(out), 16, 3, seed, 16)
        labels = source.labels()
        assert len(labels) == 3 and set(labels) <= {"bend", "wave"}
        assert ["bend" if video.mean() < 100 else "wave" for video in source] == labels
    assert sorted(open_source(str(out), 16, 5, 0, 16).labels()) == ["bend", "bend", "wave", "wave", "wave"]
    assert open_source(str(src / "wave"), 16, None, 0, 16).labels() is None  # a folder of video files
    assert open_source("synthetic:1", 16, 2, 0, 16).labels() is None


def test_evaluate_reads_the_classes_of_its_real_data(prepared, tmp_path, monkeypatch, capsys):
    """`evaluate` on labelled data writes the metric, at each seed and as the mean over seeds."""
    run = tmp_path / "run"
    train(replace(get_preset("tiny"), model={"frames": 16},
                  train={"iterations": 1, "device": "cpu", "sample_every": 100}), run, progress=False)
    models = []
    monkeypatch.setattr(evaluate_module, "load_i3d", lambda *args: models.append(_MeanColour()) or models[-1])
    result = evaluate_module.evaluate_repeated(run, 2, data=str(prepared[1]), n=4, metrics=("class_coverage",),
                                               device="cpu", use_cache=False)
    # per seed the real and generated sets, each embedded once, as the time estimate counted them; the floor is FVD's
    assert [model.clips for model in models] == [8, 8]
    assert capsys.readouterr().err.count("I3D embeds 8 videos") == 2
    for seed, one in enumerate(result["per_seed"]):
        assert "fvd_real_floor" not in one and "fvd" not in one
        labels = open_source(str(prepared[1]), 16, 4, seed, 16).labels()
        assert {name: shares["real"] for name, shares in one["class_shares"].items()} == {
            name: labels.count(name) / 4 for name in ("bend", "wave")}
        assert 0 <= one["class_share_tv"] <= 1 and one["class_share_min_ratio"] >= 0
    assert result["class_share_tv"] == pytest.approx(np.mean([one["class_share_tv"] for one in result["per_seed"]]))
    assert result["class_shares"]["wave"]["generated"] == pytest.approx(
        np.mean([one["class_shares"]["wave"]["generated"] for one in result["per_seed"]]))


def test_fvd_reports_its_mean_term_and_each_sets_spread():
    """fvd_mean_term is |mu_g - mu_r|^2 of the embeddings; i3d_spread the trace of each set's covariance: a
    generator that draws one kind of video has a spread far under the data's."""
    real = _labelled(["bend", "jack", "wave", "wave"])
    one_kind = VideoSet([_video("wave", seed) for seed in range(30, 34)])
    out = get_metric("fvd")(one_kind, real, EvalContext(i3d=_MeanColour(), frames=9))
    model = _MeanColour()
    gen, ref = (np.concatenate([model(preprocess(v)[None]).detach().numpy() for v in s.videos]) for s in (one_kind, real))
    assert out["fvd_mean_term"] == pytest.approx(((gen.mean(0) - ref.mean(0)) ** 2).sum(), rel=1e-5)
    assert out["i3d_spread"] == pytest.approx(np.var(gen, axis=0, ddof=1).sum(), rel=1e-4)
    assert out["i3d_spread_real"] == pytest.approx(np.var(ref, axis=0, ddof=1).sum(), rel=1e-5)
    assert out["i3d_spread"] < out["i3d_spread_real"] / 10 and out["fvd"] >= out["fvd_mean_term"]


def test_evaluate_prints_each_class_share_on_one_printable_line(tmp_path, monkeypatch, capsys):
    """Class names are the user's folder names: an escape sequence in one is shown, not obeyed."""
    from videos import moving_pattern, write_video

    hostile = "wa\x1b[2Jve"
    src, out = tmp_path / "classes", tmp_path / "prepared"
    for name, shade in (("bend", lambda v: v // 4), (hostile, lambda v: 128 + v // 2)):
        for i in range(2):
            write_video(src / name / f"{i}.mp4", shade(moving_pattern(16, 16, 16, seed=i)))
    assert main(["prepare", str(src), str(out), "--size", "16", "--frames", "16", "--no-stabilize"]) == 0
    run = tmp_path / "run"
    train(replace(get_preset("tiny"), model={"frames": 16},
                  train={"iterations": 1, "device": "cpu", "sample_every": 100}), run, progress=False)
    monkeypatch.setattr(evaluate_module, "load_i3d", lambda *args: _MeanColour())
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(out), "--n", "4", "--metrics", "class_coverage", "--no-cache",
                 "--device", "cpu", "--out", str(tmp_path / "eval.json")]) == 0
    line, = [line for line in capsys.readouterr().out.splitlines() if line.startswith("classes,")]
    assert "\x1b" not in line and "bend" in line and "wa\\x1b[2Jve" in line and "50%" in line
