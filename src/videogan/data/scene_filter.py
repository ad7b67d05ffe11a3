"""The paper's scene filter: keep only the inputs a scene classifier puts in chosen categories.

The classifier is a TorchScript archive (`torch.jit.save`) with its class names inside it, one per line, in
the archive's extra file `classes.txt`: the names cannot be lost or paired with the wrong model. Its
forward takes `b 3 224 224` RGB floats in [0, 1] (normalization is the model's own business) and returns
`b C` logits, C the number of names. An input's scene is the class of highest softmax probability averaged
over `FRAMES` frames spread over its length.

Only TorchScript is accepted: loading one runs no Python, while a pickled checkpoint (`torch.save`) could
run any code on load. Everything is checked here, before any input is prepared.
"""
from __future__ import annotations

import difflib
import itertools
import zipfile
from pathlib import Path

import numpy as np
import torch

from .clips import square
from .decode import DecodeError, iter_frames, probe

CLASSES_FILE = "classes.txt"
INPUT_SIZE = 224
FRAMES = 3


def _check_torchscript(path: Path) -> None:
    """Refuse, without loading it, a file that is not a TorchScript archive (a pickle above all)."""
    if not path.is_file():
        raise ValueError(f"--scene-filter {path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"--scene-filter {path}: not a TorchScript archive (save the model with "
                         "torch.jit.save(torch.jit.script(model), ...); pickles are never loaded)")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if not any(n.endswith("/constants.pkl") for n in names) or not any("/code/" in n for n in names):
        raise ValueError(f"--scene-filter {path}: a torch.save checkpoint, not TorchScript (save the model "
                         "with torch.jit.save(torch.jit.script(model), ...); pickles are never loaded)")


class SceneFilter:
    """A scene classifier and the scene names to keep; pickled as (path, keep) and reloaded, so that
    `prepare`'s worker processes each load their own copy."""

    def __init__(self, path: str | Path, keep: list[str]):
        self.path, self.keep = Path(path), list(keep)
        _check_torchscript(self.path)
        extra = {CLASSES_FILE: ""}
        try:
            self.model = torch.jit.load(str(self.path), map_location="cpu", _extra_files=extra).eval()
        except RuntimeError as err:
            raise ValueError(f"--scene-filter {self.path}: TorchScript cannot load it "
                             f"({str(err).strip().splitlines()[0]})") from None
        self.classes = [line.strip() for line in extra[CLASSES_FILE].decode().splitlines() if line.strip()]
        if not self.classes:
            raise ValueError(f"--scene-filter {self.path}: no class names inside (save with "
                             f"_extra_files={{'{CLASSES_FILE}': one name per line}})")
        for name in self.keep:
            if name not in self.classes:
                close = difflib.get_close_matches(name, self.classes, n=3, cutoff=0.6)
                hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"{len(self.classes)} known"
                raise ValueError(f"--keep: {self.path.name} has no scene {name!r} ({hint})")
        with torch.inference_mode():
            out = self.model(torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE))
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, len(self.classes)):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"--scene-filter {self.path}: returns {shape} for a 1 3 {INPUT_SIZE} {INPUT_SIZE} "
                             f"input, not 1 {len(self.classes)} (one logit per name in {CLASSES_FILE})")

    def __reduce__(self):
        return SceneFilter, (self.path, self.keep)

    def scene(self, path: str | Path) -> str:
        """The top scene of the input at `path` (a video file or frame folder)."""
        duration = probe(path).duration
        rate = FRAMES / duration if duration > 0 else 1.0  # FRAMES frames spread over the input
        frames = [square(f, INPUT_SIZE) for f in itertools.islice(iter_frames(path, rate, 2 * INPUT_SIZE), FRAMES)]
        if not frames:
            raise DecodeError("no frame to classify the scene of")
        batch = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255  # b 3 224 224
        with torch.inference_mode():
            probabilities = self.model(batch).float().softmax(dim=1).mean(dim=0)  # C
        return self.classes[int(probabilities.argmax())]
