import json
import pickle

import numpy as np
import pytest
import torch

from videogan.cli import main
from videogan.data.scene_filter import SceneFilter
from videogan.data.shards import read_manifests
from videos import moving_pattern, write_video

CLASSES = ["red field", "green field", "blue sea"]


class MeanColour(torch.nn.Module):
    """A stand-in scene classifier: the scene is the frame's dominant colour."""

    def __init__(self, outputs: int = 3):
        super().__init__()
        self.outputs = outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # b 3 224 224 in [0, 1] -> b outputs logits
        return x.mean(dim=(2, 3))[:, :self.outputs] * 20


def save_model(path, classes=CLASSES, outputs: int = 3, **extra):
    files = {"classes.txt": "\n".join(classes)} if classes is not None else {}
    torch.jit.save(torch.jit.script(MeanColour(outputs)), str(path), _extra_files={**files, **extra})
    return path


def tinted(channel: int, seed: int) -> np.ndarray:
    """t h w 3 uint8: a moving texture, dim except in `channel`."""
    video = moving_pattern(12, 24, 24, seed=seed) // 4
    video[..., channel] += 180
    return video


@pytest.fixture
def footage(tmp_path):
    src = tmp_path / "src"
    write_video(src / "red.mp4", tinted(0, 1))
    write_video(src / "green.mp4", tinted(1, 2))
    write_video(src / "blue.mp4", tinted(2, 3))
    return src


def prepare(src, out, *flags) -> int:
    return main(["prepare", str(src), str(out), "--size", "16", "--frames", "8", "--no-stabilize", *flags])


def test_inputs_outside_the_kept_scenes_are_skipped_with_their_scene(tmp_path, footage):
    model = save_model(tmp_path / "scenes.pt")
    out = tmp_path / "out"
    assert prepare(footage, out, "--scene-filter", str(model), "--keep", "red field, green field") == 1
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert skipped == [{"source": "blue.mp4", "reason": "scene 'blue sea' is not in --keep", "scene": "blue sea"}]
    clips, inputs = read_manifests(out / "shards")
    assert {c["source"] for c in clips} == {"red.mp4", "green.mp4"}
    assert {r["source"]: r["scene"] for r in inputs} == {"red.mp4": "red field", "green.mp4": "green field",
                                                          "blue.mp4": "blue sea"}


def test_a_filter_travels_to_worker_processes_by_path(tmp_path, footage):
    scenes = SceneFilter(save_model(tmp_path / "scenes.pt"), ["blue sea"])
    copy = pickle.loads(pickle.dumps(scenes))  # what `--workers` sends to each spawned process
    assert copy.classes == CLASSES and copy.keep == ["blue sea"]
    assert [copy.scene(footage / f"{c}.mp4") for c in ("red", "green", "blue")] == CLASSES


def refusals(tmp_path) -> dict[str, tuple[list[str], str]]:
    """Flags -> the one-line error they must give."""
    model = str(save_model(tmp_path / "scenes.pt"))
    torch.save(MeanColour(), tmp_path / "pickled.pt")
    (tmp_path / "notes.pt").write_text("not a model")
    return {
        "pickle": (["--scene-filter", str(tmp_path / "pickled.pt"), "--keep", "red field"],
                   "a torch.save checkpoint, not TorchScript"),
        "text": (["--scene-filter", str(tmp_path / "notes.pt"), "--keep", "red field"], "not a TorchScript archive"),
        "missing": (["--scene-filter", str(tmp_path / "nope.pt"), "--keep", "red field"], "no such file"),
        "no names": (["--scene-filter", str(save_model(tmp_path / "bare.pt", classes=None)), "--keep", "red field"],
                     "no class names inside"),
        "wrong width": (["--scene-filter", str(save_model(tmp_path / "two.pt", outputs=2)), "--keep", "red field"],
                        "returns (1, 2) for a 1 3 224 224 input, not 1 3"),
        "typo": (["--scene-filter", model, "--keep", "red field,gren field"],
                 "--keep: scenes.pt has no scene 'gren field' (did you mean 'green field'"),
        "no keep": (["--scene-filter", model], "--scene-filter and --keep go together"),
        "keep alone": (["--keep", "red field"], "--scene-filter and --keep go together"),
        "empty keep": (["--scene-filter", model, "--keep", " , "], "--keep: no scene names"),
    }


@pytest.mark.parametrize("case", ["pickle", "text", "missing", "no names", "wrong width", "typo", "no keep",
                                  "keep alone", "empty keep"])
def test_bad_filters_are_one_line_errors_before_any_work(tmp_path, footage, capsys, case):
    flags, message = refusals(tmp_path)[case]
    assert prepare(footage, tmp_path / "out", *flags) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "shards").exists()
