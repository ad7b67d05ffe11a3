"""Group-aware splits (`--groups`): related videos (mirror twins, one actor, UCF-101's gXX) never straddle
the train/test split, nor the probe's validation split; `recognize split` writes the split as folders."""
import json

import numpy as np
import pytest
import torch

from videogan.cli import main
from videogan.config import replace
from videogan.tasks.recognition.config import PRESETS
from videogan.tasks.recognition.data import load_labelled
from videogan.tasks.recognition.groups import hold_out_groups, read_groups
from videos import moving_pattern, write_video

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """Two classes of six videos each, in mirror pairs 2k, 2k+1 (the layout of weizmann-4), and its
    groups file naming the pairs."""
    root = tmp_path_factory.mktemp("twins") / "data"
    lines = []
    for c, name in enumerate(("wave", "bend")):
        for k in range(6):
            video = moving_pattern(8, 16, 16, seed=10 * c + k // 2)
            write_video(root / name / f"{k:08d}.mp4", video[:, :, ::-1] if k % 2 else video)
            lines.append(f"{name}/{k:08d}.mp4 {name}-{k // 2}")
    groups = root.parent / "pairs.tsv"
    groups.write_text("# mirror pairs\n" + "\n".join(lines) + "\n")
    return root, groups


def _sides(train, test):
    return set(train.groups), set(test.groups)


def test_hold_out_groups_keeps_groups_whole_and_classes_on_both_sides():
    labels = np.repeat([0, 1, 2], 10)
    groups = [f"{label}-{i // 2}" for i, label in enumerate(labels)]
    for seed in range(20):
        kept, held = hold_out_groups(labels, groups, 0.3, np.random.default_rng(seed))
        assert sorted(kept.tolist() + held.tolist()) == list(range(30))
        assert not {groups[i] for i in kept} & {groups[i] for i in held}
        per_class = np.bincount(labels[held], minlength=3)
        assert (per_class >= 2).all() and (per_class <= 4).all()  # about 3 of 10, in pairs
        assert (np.bincount(labels[kept], minlength=3) >= 1).all()
    a, b = (hold_out_groups(labels, groups, 0.3, np.random.default_rng(5)) for _ in range(2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_groups_spanning_classes_stay_whole():
    """An actor (UCF-101's gXX) appears in every class: holding the actor out holds out all their videos."""
    labels = np.tile([0, 1], 10)
    actors = [f"g{i // 2:02d}" for i in range(20)]
    kept, held = hold_out_groups(labels, actors, 0.3, np.random.default_rng(0))
    assert not {actors[i] for i in kept} & {actors[i] for i in held}
    assert len(held) == 6 and sorted(np.bincount(labels[held]).tolist()) == [3, 3]


def test_groups_from_pattern_and_file(tmp_path, twins):
    sources = [tmp_path / "Run" / "v_Run_g08_c01.avi", tmp_path / "Run" / "v_Run_g08_c02.avi",
               tmp_path / "Swim" / "v_Swim_g09_c01.avi"]
    assert read_groups(r"re:_g(\d+)_", sources, tmp_path) == ["08", "08", "09"]
    assert read_groups("re:Swim", sources[2:], tmp_path) == ["Swim"]  # no capture group: the match
    with pytest.raises(ValueError, match=r"matches no group in 1 video\(s\), first: Swim/v_Swim_g09_c01.avi"):
        read_groups(r"re:_g08_", sources, tmp_path)
    with pytest.raises(ValueError, match="not a regular expression"):
        read_groups("re:(", sources, tmp_path)
    root, groups = twins
    names = sorted(root.glob("*/*.mp4"))
    assert read_groups(str(groups), names, root)[:2] == ["bend-0", "bend-0"]
    by_base = tmp_path / "by-name.tsv"  # file names alone are not unique across the two classes here
    by_base.write_text("00000000.mp4 a\n")
    with pytest.raises(ValueError, match=r"no group for 12 video\(s\)"):
        read_groups(str(by_base), names, root)
    extra = tmp_path / "extra.tsv"
    extra.write_text(groups.read_text() + "jump/00000000.mp4 j\n")
    with pytest.raises(ValueError, match=r"extra.tsv: names 1 video\(s\) that are not in the data, first: jump/"):
        read_groups(str(extra), names, root)
    bad = tmp_path / "bad.tsv"
    bad.write_text("wave/00000000.mp4 a b\n")
    with pytest.raises(ValueError, match=r"bad.tsv:1: expected 'NAME GROUP'"):
        read_groups(str(bad), names, root)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_groups(str(tmp_path / "none.tsv"), names, root)


def test_load_labelled_with_groups_never_splits_a_pair(twins):
    root, groups = twins
    for seed in range(5):
        config = replace(TINY, data={"data": str(root), "groups": str(groups), "split_seed": seed}).data
        train, test = load_labelled(config)
        train_groups, test_groups = _sides(train, test)
        assert not train_groups & test_groups and len(train) + len(test) == 12
        # the probe's validation split inside the training side keeps the pairs whole too
        kept, held = train.hold_out(0.2, np.random.default_rng(seed))
        assert not {train.groups[i] for i in kept} & {train.groups[i] for i in held}


def test_groups_refused_where_splits_are_fixed(twins):
    _, groups = twins
    with pytest.raises(ValueError, match="--groups applies to a class-per-folder tree"):
        load_labelled(replace(TINY, data={"groups": str(groups)}).data)


def test_recognize_split_writes_the_same_split_as_folders(twins, tmp_path, capsys):
    root, groups = twins
    out = tmp_path / "split"
    args = ["recognize", "split", "--preset", "tiny", "--data", str(root), "--groups", str(groups), "--out", str(out)]
    assert main(args) == 0
    assert "train 8 videos, test 4 videos, 4 / 2 groups" in capsys.readouterr().out
    listing = json.loads((out / "split.json").read_text())
    train, test = load_labelled(replace(TINY, data={"data": str(root), "groups": str(groups)}).data)
    assert [r["video"] for r in listing["test"]] == [str(p.resolve()) for p in test.sources]
    linked = sorted(p.relative_to(out / "test").as_posix() for p in (out / "test").glob("*/*.mp4"))
    assert linked == sorted(p.relative_to(root).as_posix() for p in test.sources)
    assert all(p.is_file() for p in (out / "train").glob("*/*.mp4"))  # links that `prepare` reads as files
    # the training side is itself a class-per-folder tree, with none of the test videos
    again, _ = load_labelled(replace(TINY, data={"data": str(out / "train"), "test_fraction": 0.25}).data)
    assert not {p.resolve() for p in again.sources} & {p.resolve() for p in test.sources}
    assert main(args) == 2 and "already holds a split" in capsys.readouterr().err


def test_fps_decodes_labelled_videos_at_the_rate_the_gan_was_prepared_at(twins):
    """`--fps 12.5` on 25 fps files: every other frame, in training crops and in whole test videos alike,
    so a GAN trained on `prepare --fps 12.5` clips is fine-tuned on motion of the same speed."""
    root, groups = twins
    native = load_labelled(replace(TINY, data={"data": str(root), "groups": str(groups)}).data)[1]
    halved = load_labelled(replace(TINY, data={"data": str(root), "groups": str(groups), "fps": 12.5}).data)[1]
    assert native.sources == halved.sources
    full, every_other = native.video(0, 16), halved.video(0, 16)
    assert len(full) == 8 and len(every_other) == 4
    assert np.abs(every_other.astype(int) - full[::2].astype(int)).mean() < 3  # the same frames, re-encoded once
    crop = halved.clips(frames=4, size=16, seed=0)[0]["video"]  # 3 t h w in [-1, 1]
    assert crop.shape == (3, 4, 16, 16)
    with pytest.raises(Exception, match="fps"):
        replace(TINY, data={"fps": 500.0})


def test_labelled_video_files_are_decoded_once_and_crops_match_decoding_from_the_file(twins):
    """A sweep reads the same few files hundreds of times: each is decoded whole once (shared by every
    subset of the split), and a crop cut from memory is the crop decoded from the file at that start."""
    from videogan.data.formats import VideoFiles
    root, groups = twins
    train, _ = load_labelled(replace(TINY, data={"data": str(root), "groups": str(groups)}).data)
    subset = train.subset([0, 1])
    assert subset.decoded is train.decoded
    from_memory = subset.clips(frames=4, size=16, seed=3)
    from_file = VideoFiles(list(zip(subset.sources, subset.labels)), 4, 16, seed=3, random_crop=True)
    for i in range(2):
        assert torch.allclose(from_memory[i]["video"], from_file[i]["video"])
    assert len(train.decoded) == 2  # the two files, decoded once each
    subset.video(0, 16)
    assert len(train.decoded) == 2
