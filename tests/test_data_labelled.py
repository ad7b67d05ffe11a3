import pytest
import torch
from torch.utils.data import DataLoader

from videogan.cli import main
from videogan.data.labelled import list_labelled, open_labelled
from videogan.data.shards import read_manifests
from videos import moving_pattern, write_video

CLASSES = ("ApplyEyeMakeup", "Basketball")


@pytest.fixture
def ucf(tmp_path):
    root = tmp_path / "ucf"
    # videos of different sizes and lengths: the reproduction report's fine-tuning failed on exactly this
    shapes = [(20, 32, 48), (12, 40, 40), (30, 24, 64), (9, 36, 28)]
    for c, name in enumerate(CLASSES):
        for g in (1, 2):
            write_video(root / "UCF-101" / name / f"v_{name}_g0{g}_c01.avi", moving_pattern(*shapes[2 * c + g - 1], seed=g))
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Basketball\n")
    (lists / "trainlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi 1\nBasketball/v_Basketball_g02_c01.avi 2\n")
    (lists / "testlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\nBasketball/v_Basketball_g01_c01.avi\n")
    return root


def test_ucf_split_lists_and_labels(ucf):
    train, classes = list_labelled(ucf, split=1, subset="train")
    test, _ = list_labelled(ucf, split=1, subset="test")
    assert classes == list(CLASSES)
    assert [(p.name, label) for p, label in train] == [("v_ApplyEyeMakeup_g02_c01.avi", 0), ("v_Basketball_g02_c01.avi", 1)]
    assert [label for _, label in test] == [0, 1] and all(p.exists() for p, _ in train + test)
    with pytest.raises(FileNotFoundError, match="trainlist02"):
        list_labelled(ucf, split=2)


def test_any_video_size_and_length_batches(ucf):
    data = open_labelled(ucf, frames=16, size=16, split=None)
    assert len(data) == 4 and data.classes == list(CLASSES)
    batch = next(iter(DataLoader(data, batch_size=4)))
    assert batch["video"].shape == (4, 3, 16, 16, 16) and batch["label"].tolist() == [0, 0, 1, 1]


def test_class_per_folder_and_prepare_keeps_labels(ucf, tmp_path):
    items, classes = list_labelled(ucf / "UCF-101")  # class folders without split files
    assert classes == list(CLASSES) and len(items) == 4
    out = tmp_path / "out"
    main(["prepare", str(ucf), str(out), "--size", "16", "--frames", "8", "--no-stabilize"])
    clips, _ = read_manifests(out / "shards")
    assert {(c["class"], c["label"]) for c in clips} == {("ApplyEyeMakeup", 0), ("Basketball", 1)}
