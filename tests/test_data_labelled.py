import pytest
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


def test_prepare_takes_an_official_split(ucf, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["prepare", str(ucf), str(out), "--size", "16", "--frames", "8", "--no-stabilize", "--split", "1"]
    assert main([*args, "--subset", "test"]) == 0
    _, inputs = read_manifests(out / "shards")
    assert sorted(r["source"] for r in inputs) == [f"UCF-101/{c}/v_{c}_g01_c01.avi" for c in CLASSES]
    assert main(["prepare", str(ucf / "UCF-101"), str(tmp_path / "o2"), "--split", "1"]) == 2
    assert "--split needs a UCF-101 root" in capsys.readouterr().err
    assert main(["prepare", str(ucf), str(tmp_path / "o3"), "--subset", "test"]) == 2
    assert "give --split N" in capsys.readouterr().err


def test_class_numbers_come_from_class_ind_not_line_order(ucf):
    (ucf / "ucfTrainTestlist" / "classInd.txt").write_text("2 Basketball\n1 ApplyEyeMakeup\n")
    train, classes = list_labelled(ucf, split=1)
    assert classes == list(CLASSES) and [label for _, label in train] == [0, 1]


@pytest.mark.parametrize("file, text, error", [
    ("classInd.txt", "1 ApplyEyeMakeup\nBasketball\n", r"classInd.txt:2: expected 'N ClassName', got 'Basketball'"),
    ("classInd.txt", "1 ApplyEyeMakeup\n3 Basketball\n", r"classInd.txt: class numbers must run 1..2 without gaps"),
    ("trainlist01.txt", "ApplyEyeMakeup/a.avi 1\n\nJuggling/b.avi 3\n",
     r"trainlist01.txt:3: 'Juggling/b.avi' is in no class of .*classInd.txt"),
])
def test_malformed_split_files_name_the_file_and_line(ucf, file, text, error):
    (ucf / "ucfTrainTestlist" / file).write_text(text)
    with pytest.raises(ValueError, match=error):
        list_labelled(ucf, split=1)
