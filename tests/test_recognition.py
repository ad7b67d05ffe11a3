"""Action recognition from the discriminator (issue 6): head swap, freezing, video accuracy, subsets,
the sweep end to end, and the clear errors."""
import json
from fractions import Fraction

import numpy as np
import pytest
import torch

from videogan.cli import main
from videogan.config import get_preset, replace
from videogan.tasks.recognition.config import PRESETS
from videogan.tasks.recognition.data import LabelledVideos, covering_clips, load_labelled, nested_subsets
from videogan.tasks.recognition.finetune import build_classifier, finetune, summarize, train_classifier
from videogan.train.checkpoint import save_checkpoint
from videogan.train.loop import train
from videos import moving_pattern, write_video

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def gan_checkpoint(tmp_path_factory):
    """A tiny GAN trained for two iterations: its discriminator differs from a fresh init."""
    config = replace(get_preset("tiny"), train={"iterations": 2, "checkpoint_every": 2, "sample_every": 100,
                                               "device": "cpu"})
    return str(train(config, tmp_path_factory.mktemp("gan"), progress=False))


@pytest.fixture(scope="module")
def synthetic():
    return load_labelled(TINY.data)


def test_head_swap_keeps_every_other_weight(gan_checkpoint):
    model, state = build_classifier(gan_checkpoint, 5, TINY.finetune)
    saved = {k: v for k, v in state["discriminator"].items() if k.startswith("features.")}
    assert model.features.state_dict().keys() == {k[len("features."):] for k in saved}
    for key, value in saved.items():
        assert torch.equal(model.features.state_dict()[key[len("features."):]], value), key
    dropout, conv = model.head
    assert isinstance(dropout, torch.nn.Dropout3d) and dropout.p == 0.5
    old = state["discriminator"]["classifier.weight"]  # 1 c t' 4 4
    assert conv.weight.shape == (5, *old.shape[1:])
    assert model.eval()(torch.zeros(2, 3, 8, 16, 16)).shape == (2, 5)


@pytest.mark.parametrize("frozen", [True, False])
def test_freezing_trains_only_the_head(gan_checkpoint, synthetic, frozen):
    train_set, _ = synthetic
    model, _ = build_classifier(gan_checkpoint, 5, TINY.finetune)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_classifier(model, train_set, TINY.finetune, torch.device("cpu"), frozen=frozen)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert {"head.1.weight", "head.1.bias"} <= changed
    feature_changes = {k for k in changed if k.startswith("features.")}
    if frozen:  # weights and BatchNorm statistics alike
        assert not feature_changes
    else:
        assert any(k.endswith("weight") for k in feature_changes) and any("running_mean" in k for k in feature_changes)


def test_video_accuracy_averages_clip_probabilities():
    # video 0 (class 0): two clips lean to class 1 a little, one strongly to class 0 -> video right, clips 1/3
    # video 1 (class 1): one clip, right; video 2 (class 2): two clips, class 0 on average -> wrong
    probs = np.array([[0.4, 0.6, 0.0], [0.4, 0.6, 0.0], [1.0, 0.0, 0.0],
                      [0.1, 0.8, 0.1],
                      [0.5, 0.0, 0.5], [0.7, 0.0, 0.3]])
    owner = np.array([0, 0, 0, 1, 2, 2])
    result = summarize(probs, owner, [0, 1, 2], ("a", "b", "c"))
    assert result["video_accuracy"] == pytest.approx(2 / 3)
    assert result["clip_accuracy"] == pytest.approx(2 / 6)  # clip 3 right; clip 4 ties 0/2 -> argmax 0: wrong
    assert result["per_class_accuracy"] == {"a": 1.0, "b": 1.0, "c": 0.0}
    assert result["confusion"] == [[1, 0, 0], [0, 1, 0], [1, 0, 0]]


def test_covering_clips_reach_the_last_frame():
    video = np.arange(10, dtype=np.uint8)[:, None, None, None].repeat(4, 1).repeat(4, 2).repeat(3, 3)
    clips = covering_clips(video, 4, 4)  # starts 0, 4 and 6 (the last ends at frame 9)
    first_frames = ((clips[:, 0, :, 0, 0] + 1) * 127.5).round().int()  # n t
    assert first_frames.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [6, 7, 8, 9]]
    assert covering_clips(video[:3], 4, 4).shape == (1, 3, 4, 4, 4)  # shorter: one padded clip


def test_labelled_subsets_are_nested_and_class_balanced():
    labels = tuple([0] * 64 + [1] * 32 + [2] * 16)
    videos = LabelledVideos(tuple(range(len(labels))), labels, ("a", "b", "c"), "test")
    fractions = [Fraction(1, 32), Fraction(1, 8), Fraction(1, 2), Fraction(1)]
    subsets = nested_subsets(videos, fractions, seed=3)
    for small, large in zip(fractions, fractions[1:]):
        assert set(subsets[small]) < set(subsets[large])
    counts = {f: np.bincount(np.asarray(labels)[subsets[f]], minlength=3).tolist() for f in fractions}
    assert counts[Fraction(1, 2)] == [32, 16, 8] and counts[Fraction(1)] == [64, 32, 16]
    assert counts[Fraction(1, 32)] == [2, 1, 1]  # every class keeps at least one video
    assert not np.array_equal(subsets[Fraction(1, 8)], nested_subsets(videos, fractions, seed=4)[Fraction(1, 8)])


def test_sweep_end_to_end_writes_plots_and_tables(gan_checkpoint, tmp_path):
    out = tmp_path / "sweep"
    code = main(["recognize", "sweep", "--preset", "tiny", "--init", gan_checkpoint, "--out", str(out),
                 "--fractions", "1/2,1", "--seeds", "2", "--synthetic-videos", "24", "--iterations", "2"])
    assert code == 0
    for name in ("figure4b.png", "figure4c.png", "sweep.csv", "sweep_summary.csv"):
        assert (out / name).stat().st_size > 0
    data = json.loads((out / "sweep.json").read_text())
    assert len(data["runs"]) == 2 * 2 * 3  # seeds x fractions x methods
    assert set(data["summary"]["finetune_over_random"]) <= {"1/2", "1"}
    assert data["summary"]["probe"]["1"]["seeds"] == 2
    # the same subset for every method
    sizes = {(r["fraction"], r["seed"], r["train_videos"]) for r in data["runs"]}
    assert len(sizes) == 4
    assert (out / "sweep.csv").read_text().count("\n") == 13


def _ucf(root, names_in_train, missing=False):
    """A UCF-101 layout with videos of different sizes and lengths."""
    shapes = {"Run": [(20, 32, 48), (9, 36, 28)], "Swim": [(12, 40, 40), (30, 24, 64)]}
    for name, sizes in shapes.items():
        for g, shape in enumerate(sizes, 1):
            write_video(root / name / f"v_{name}_g0{g}_c01.avi", moving_pattern(*shape, seed=g))
    (root / "classInd.txt").write_text("1 Run\n2 Swim\n")
    train = [f"{n}/v_{n}_g01_c01.avi {i + 1}" for i, n in enumerate(names_in_train)]
    if missing:
        train.append("Run/v_Run_g09_c01.avi 1")
    (root / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (root / "testlist01.txt").write_text("Run/v_Run_g02_c01.avi\nSwim/v_Swim_g02_c01.avi\n")
    return root


def test_video_files_of_any_size_and_length_fine_tune(gan_checkpoint, tmp_path):
    """The reproduction report's 101-class run died on a frame-dimension error: sizes must not matter."""
    root = _ucf(tmp_path / "ucf", ["Run", "Swim"])
    config = replace(TINY, data={"data": str(root)})
    train_set, test_set = load_labelled(config.data)
    _, result = finetune(gan_checkpoint, train_set, test_set, config.finetune, torch.device("cpu"))
    assert result["test_videos"] == 2 and result["test_clips"] >= 3  # the 30-frame video needs several clips


def test_error_class_without_training_videos(tmp_path):
    root = _ucf(tmp_path / "ucf", ["Run"])  # Swim is listed in classInd but has no training video
    assert main(["recognize", "probe", "--preset", "tiny", "--init", "random", "--data", str(root),
                 "--out", str(tmp_path / "o")]) == 2
    with pytest.raises(ValueError, match="no training videos: Swim"):
        load_labelled(replace(TINY, data={"data": str(root)}).data)
    folders = tmp_path / "folders"
    write_video(folders / "Run" / "a.avi", moving_pattern(8, 16, 16))
    write_video(folders / "Run" / "b.avi", moving_pattern(8, 16, 16))
    (folders / "Swim").mkdir()
    with pytest.raises(ValueError, match="no training videos: Swim"):
        load_labelled(replace(TINY, data={"data": str(folders)}).data)


def test_error_label_file_names_missing_videos(tmp_path):
    root = _ucf(tmp_path / "ucf", ["Run", "Swim"], missing=True)
    with pytest.raises(FileNotFoundError, match=r"trainlist01.txt names 1 video\(s\) that do not exist.*g09"):
        load_labelled(replace(TINY, data={"data": str(root)}).data)


def test_error_checkpoint_without_discriminator(tmp_path, capsys):
    path = save_checkpoint(tmp_path / "g.pt", {"config": get_preset("tiny").to_dict(), "generator": {}})
    assert main(["recognize", "finetune", "--preset", "tiny", "--init", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "g.pt: checkpoint holds no discriminator" in capsys.readouterr().err
