"""TensorBoard logging of a run into RUN/tb/: the scalars of stats.jsonl, and the fixed-z sample grids
as images (and as videos where the writer can encode them: torch's writer needs moviepy for that).

It is on whenever the `tensorboard` package is installed (`pip install videogan[tensorboard]`), with no
flag; VIDEOGAN_TENSORBOARD=0 turns it off. Without the package, runs behave exactly as before.
"""
from __future__ import annotations

import importlib.util
import os
import weakref
from pathlib import Path

import numpy as np
import torch

from ..data.video_io import grid, to_uint8

STREAMS = ("video", "foreground", "mask", "background")


def tensorboard_available() -> bool:
    return os.environ.get("VIDEOGAN_TENSORBOARD", "1") != "0" and importlib.util.find_spec("tensorboard") is not None


class TensorBoardLog:
    """A SummaryWriter on RUN/tb; `purge_step` drops events a resumed run will write again."""

    def __init__(self, run_dir: Path, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=purge_step)
        weakref.finalize(self, self.writer.close)  # closed with the run's log: train() has no close step
        self.videos = importlib.util.find_spec("moviepy") is not None

    def scalars(self, iteration: int, values: dict, group: str = "train") -> None:
        """Each number as the scalar GROUP/KEY: train/ for stats.jsonl's, eval/ for `evaluate`'s."""
        for key, value in values.items():
            if isinstance(value, (int, float)):
                self.writer.add_scalar(f"{group}/{key}", value, iteration)
        self.writer.flush()

    def samples(self, iteration: int, parts: dict[str, torch.Tensor]) -> None:
        """Each stream's grid of first frames as an image; the moving ones as videos too if possible."""
        for name in STREAMS:
            if name not in parts:
                continue
            video = parts[name] if name != "background" else parts[name].unsqueeze(2)  # b 3 t h w
            if name == "mask":
                video = (video * 2 - 1).expand(-1, 3, -1, -1, -1)
            tiled = grid(to_uint8(video))  # t H W 3
            self.writer.add_image(f"samples/{name}", tiled[0], iteration, dataformats="HWC")
            if self.videos and tiled.shape[0] > 1:
                clip = torch.from_numpy(np.ascontiguousarray(tiled)).permute(0, 3, 1, 2).unsqueeze(0)  # 1 t 3 H W
                self.writer.add_video(f"videos/{name}", clip, iteration, fps=8)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
