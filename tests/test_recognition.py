"""Action recognition from the discriminator (issue 6): head swap, freezing, video accuracy, subsets,
the probe's validation and features, the sweep end to end, the commands' defaults, and the clear errors."""
import dataclasses
import json
import logging
from fractions import Fraction

import numpy as np
import pytest
import torch

from videogan.checkpoint import load_checkpoint, save_checkpoint
from videogan.cli import build_parser, main
from videogan.cli import recognize as recognize_command
from videogan.config import get_preset, replace
from videogan.models import VideoDiscriminator
from videogan.tasks.recognition import probe as probe_module
from videogan.tasks.recognition import sweep as sweep_module
from videogan.tasks.recognition.config import PRESETS, random_init_model
from videogan.tasks.recognition.data import LabelledVideos, covering_clips, load_labelled, nested_subsets
from videogan.tasks.recognition.finetune import build_classifier, finetune, summarize, train_action_classifier
from videogan.tasks.recognition.probe import C_GRID, extract_features
from videogan.train.gan import train
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
    train_action_classifier(model, train_set, TINY.finetune, torch.device("cpu"), frozen=frozen)
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


def test_sweep_end_to_end_writes_plots_and_tables(gan_checkpoint, tmp_path, monkeypatch):
    used = []  # (method, seed, training videos) of every run, in order

    def spy_finetune(init, subset, test, cfg, *args, **kwargs):
        used.append(("random" if init == "random" else "finetune", cfg.seed, subset.sources))
        return real_finetune(init, subset, test, cfg, *args, **kwargs)

    def spy_probe(feats, owner, subset, *args):
        used.append(("probe", args[-1], subset.sources))
        return real_probe(feats, owner, subset, *args)

    real_finetune, real_probe = sweep_module.finetune, sweep_module.probe
    monkeypatch.setattr(sweep_module, "finetune", spy_finetune)
    monkeypatch.setattr(sweep_module, "probe", spy_probe)
    out = tmp_path / "sweep"
    code = main(["recognize", "sweep", "--preset", "tiny", "--init", gan_checkpoint, "--out", str(out),
                 "--fractions", "1/2,1", "--seeds", "2", "--synthetic-videos", "24", "--iterations", "2"])
    assert code == 0
    for name in ("figure4b.png", "figure4c.png", "sweep.csv", "sweep_summary.csv"):
        assert (out / name).stat().st_size > 0
    data = json.loads((out / "sweep.json").read_text())
    assert len(data["runs"]) == 2 * 2 * 3  # seeds x fractions x methods
    assert set(data["summary"]["finetune_over_random"]) == {"1/2", "1"}
    assert data["summary"]["probe"]["1"]["seeds"] == 2
    # runs go seed by seed, fraction by fraction, the three methods on the very same videos
    assert len(used) == 12
    for seed_fraction in range(4):
        runs = used[3 * seed_fraction:3 * seed_fraction + 3]
        assert [m for m, _, _ in runs] == ["finetune", "random", "probe"]
        assert len({seed for _, seed, _ in runs}) == 1 and len({videos for _, _, videos in runs}) == 1
    half, full = used[0][2], used[3][2]  # seed 0: 1/2 inside 1
    assert set(half) < set(full)
    assert (out / "sweep.csv").read_text().count("\n") == 13


# (frames, height, width) of videos g01 (training) and g02 (test) of each class; the tiny model reads 8 x 16 x 16
LARGER = {"Run": [(20, 32, 48), (9, 36, 28)], "Swim": [(12, 40, 40), (30, 24, 64)]}
SMALLER = {"Run": [(5, 32, 48), (6, 10, 12)], "Swim": [(12, 10, 10), (4, 40, 40)]}


def _ucf(root, names_in_train, missing=False, shapes=LARGER):
    """A UCF-101 layout with videos of different sizes and lengths."""
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


@pytest.mark.parametrize("shapes, test_clips", [(LARGER, 4 + 2), (SMALLER, 1 + 1)], ids=["larger", "shorter-smaller"])
def test_video_files_of_any_size_and_length_fine_tune(gan_checkpoint, tmp_path, caplog, shapes, test_clips):
    """The reproduction report's 101-class run died on a frame-dimension error: sizes must not matter,
    whether videos are larger and longer than the model's input or shorter and smaller."""
    root = _ucf(tmp_path / "ucf", ["Run", "Swim"], shapes=shapes)
    config = replace(TINY, data={"data": str(root)})
    train_set, test_set = load_labelled(config.data)
    with caplog.at_level(logging.WARNING):
        _, result = finetune(gan_checkpoint, train_set, test_set, config.finetune, torch.device("cpu"))
    assert not caplog.records  # a training video that fails to load is skipped with a warning: none may be
    # the 30-frame test video needs 4 clips of 8, the 9-frame one 2; shorter videos are one padded clip each
    assert result["test_videos"] == 2 and result["test_clips"] == test_clips


def test_error_class_without_training_videos(gan_checkpoint, tmp_path, capsys):
    root = _ucf(tmp_path / "ucf", ["Run"])  # Swim is listed in classInd but has no training video
    assert main(["recognize", "probe", "--preset", "tiny", "--init", gan_checkpoint, "--data", str(root),
                 "--out", str(tmp_path / "o")]) == 2
    assert "split 1 (train): class(es) with no training videos: Swim (1 of 2)" in capsys.readouterr().err
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


@pytest.fixture(scope="module")
def default_finetune(tmp_path_factory):
    """`recognize finetune --init random` as the docs write it, without --preset, on few videos."""
    out = tmp_path_factory.mktemp("default")
    code = main(["recognize", "finetune", "--init", "random", "--out", str(out), "--synthetic-videos", "20",
                 "--iterations", "2", "--batch-size", "4", "--device", "cpu"])
    return code, out


def test_recognize_defaults_to_the_cpu_preset(default_finetune):
    code, out = default_finetune
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    cpu = PRESETS["cpu"]
    assert result["config"]["data"]["synthetic_frames"] == cpu.data.synthetic_frames
    assert result["config"]["finetune"]["eval_batch"] == cpu.finetune.eval_batch
    # random init has the cpu GAN preset's network
    assert load_checkpoint(out / "classifier.pt")["config"]["model"] == dataclasses.asdict(get_preset("cpu").model)


def test_finetune_result_holds_per_class_accuracy_and_confusion(default_finetune):
    _, out = default_finetune
    result = json.loads((out / "result.json").read_text())
    confusion = np.array(result["confusion"])
    k = len(result["classes"])
    assert k == 5 and confusion.shape == (k, k)
    assert confusion.sum() == result["test_videos"] == 6
    assert np.trace(confusion) / confusion.sum() == pytest.approx(result["video_accuracy"])
    support = confusion.sum(1)
    assert result["per_class_accuracy"] == {
        name: (confusion[c, c] / support[c] if support[c] else None) for c, name in enumerate(result["classes"])}


def test_recognize_refuses_gan_only_presets(tmp_path, capsys):
    assert main(["recognize", "finetune", "--preset", "future-cpu", "--init", "random",
                 "--out", str(tmp_path / "o")]) == 2
    assert "preset 'future-cpu' has no recognition settings; choose from ['cpu', 'paper', 'tiny']" in \
        capsys.readouterr().err


def test_probe_random_init_says_what_to_do(tmp_path, capsys):
    assert main(["recognize", "probe", "--preset", "tiny", "--init", "random", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "need a trained discriminator; give a GAN checkpoint" in err
    assert "`videogan recognize finetune --init random`" in err


@pytest.mark.parametrize("task", ["finetune", "split", "probe", "sweep"])
def test_recognition_flags_have_help_and_ranges(task):
    parser = build_parser("recognize")._subparsers._group_actions[0].choices["recognize"]
    sub = parser._subparsers._group_actions[0].choices[task]
    flags = [a for a in sub._actions if a.dest.count(".") == 1]
    assert len(flags) == 20 and all(a.help for a in flags)
    assert "(>= 0.0, < 1.0)" in " ".join(sub.format_help().split())


@pytest.mark.parametrize("flag, value, field", [("--dropout", "1.5", "dropout"), ("--eval-batch", "0", "eval_batch"),
                                                ("--split", "4", "split"), ("--device", "gpu", "device")])
def test_out_of_range_recognition_flags_are_one_line_errors(flag, value, field, tmp_path, capsys):
    assert main(["recognize", "finetune", "--preset", "tiny", "--init", "random", flag, value,
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(("videogan recognize: error: ", "videogan recognize finetune: error: ")) and field in err
    assert not (tmp_path / "o").exists()


def test_paper_preset_is_the_released_recipe():
    args = build_parser().parse_args(["recognize", "finetune", "--preset", "paper", "--init", "random",
                                      "--out", "unused"])
    cfg = recognize_command._config(args).finetune
    assert (cfg.batch_size, cfg.iterations, cfg.lr, cfg.beta1, cfg.beta2, cfg.dropout) == \
        (256, 1000, 2e-4, 0.5, 0.999, 0.5)
    model = random_init_model("paper")  # random init has the paper's network: 32 frames of 64x64
    assert (model.frames, model.size, model.d_width) == (32, 64, 64)


def test_same_seed_gives_the_same_result(synthetic):
    train_set, test_set = synthetic
    model_cfg = get_preset("tiny").model

    def run(seed):
        cfg = replace(TINY, finetune={"seed": seed}).finetune
        _, result = finetune("random", train_set, test_set, cfg, torch.device("cpu"), model_cfg)
        for point in result["loss_curve"]:
            del point["seconds"]
        return result

    first = run(0)
    assert run(0) == first
    assert run(1)["loss_curve"] != first["loss_curve"]  # the seed does reach the run


def test_probe_picks_c_on_validation_videos_kept_apart(monkeypatch):
    # 3 classes x 6 training videos x 2 clips; column 0 names the video, the others carry a noisy class signal
    rng = np.random.default_rng(0)

    def videos(n_per_class):
        labels = np.repeat(np.arange(3), n_per_class)
        owner = np.repeat(np.arange(len(labels)), 2)
        feats = np.concatenate([owner[:, None], np.eye(3)[labels[owner]] + rng.normal(0, 0.8, (len(owner), 3))], 1)
        return LabelledVideos(tuple(range(len(labels))), tuple(labels.tolist()), ("a", "b", "c"), "test"), feats, owner

    (train_set, train_feats, train_owner), (test_set, test_feats, test_owner) = videos(6), videos(2)
    fitted_on, scored_on = [], []  # video ids seen by each fit, and by each scoring of class probabilities

    def spy_fit(features, labels, c, seed):
        fitted_on.append(set(features[:, 0].astype(int)))
        assert labels.tolist() == [train_set.labels[v] for v in features[:, 0].astype(int)]
        return real_fit(features, labels, c, seed)

    def spy_probs(fitted, features, k):
        scored_on.append(set(features[:, 0].astype(int)))
        return real_probs(fitted, features, k)

    real_fit, real_probs = probe_module._fit, probe_module._probs
    monkeypatch.setattr(probe_module, "_fit", spy_fit)
    monkeypatch.setattr(probe_module, "_probs", spy_probs)
    result = probe_module.probe(train_feats, train_owner, train_set, test_feats, test_owner, test_set, seed=0)

    everything = set(range(18))
    held = everything - fitted_on[0]
    assert len(fitted_on) == len(C_GRID) + 1 and all(f == fitted_on[0] for f in fitted_on[:-1])
    assert sorted(np.asarray(train_set.labels)[sorted(held)]) == [0, 1, 2]  # a fifth of each class: 1 of 6
    assert scored_on[:len(C_GRID)] == [held] * len(C_GRID)  # C is scored only on the held-out videos
    assert fitted_on[-1] == everything and scored_on[-1] == set(range(6))  # refit on all, then the test set
    assert result["validation_videos"] == 3
    assert result["validation"][str(result["C"])] == max(result["validation"].values())


def test_probe_feature_size_for_each_pooling(synthetic):
    """flatten: the whole map the one-logit layer reads (c x t' x 4 x 4); mean: its c channels."""
    paper = VideoDiscriminator(get_preset("paper").model).classifier  # the size docs/recognition.md quotes
    assert (paper.in_channels, *paper.kernel_size) == (512, 2, 4, 4)
    discriminator = VideoDiscriminator(get_preset("tiny").model)
    c, (t, h, w) = discriminator.classifier.in_channels, discriminator.classifier.kernel_size
    _, test_set = synthetic
    videos = test_set.subset(range(3))
    flat, owner = extract_features(discriminator, videos, "flatten", 8, torch.device("cpu"))
    mean, mean_owner = extract_features(discriminator, videos, "mean", 8, torch.device("cpu"))
    assert flat.shape == (len(owner), c * t * h * w) and mean.shape == (len(owner), c)
    assert np.array_equal(owner, mean_owner)
    np.testing.assert_allclose(mean, flat.reshape(len(owner), c, -1).mean(-1), rtol=1e-4, atol=1e-6)
