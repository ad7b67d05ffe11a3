"""Named metrics of generated videos against real ones: `evaluate --metrics NAME ...` picks from here.

Every metric takes the generated and the real `VideoSet` and an `EvalContext` with what it may need
(the I3D model, cached real statistics), and returns named numbers. Definitions: docs/evaluation.md.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from . import diagnostics
from .fvd import BATCH_SIZE, FRAMES, embed_videos, frechet_distance_from_stats, gaussian_stats
from .i3d import InceptionI3d


@dataclass
class VideoSet:
    """t h w 3 uint8 videos, and for a two-stream generator its masks (t h w float in [0, 1])."""

    videos: Sequence[np.ndarray]
    masks: Sequence[np.ndarray] | None = None
    _tensor: torch.Tensor | None = field(default=None, repr=False)

    def tensor(self) -> torch.Tensor:
        """All videos as one b 3 t h w float tensor in [-1, 1] (the diagnostics' input)."""
        if self._tensor is None:
            stacked = torch.from_numpy(np.stack([np.asarray(v) for v in self.videos]))  # b t h w 3
            self._tensor = stacked.permute(0, 4, 1, 2, 3).float().div(127.5).sub(1)
        return self._tensor


@dataclass(frozen=True)
class EvalContext:
    i3d: InceptionI3d | None = None  # loaded only when a metric that needs it is selected
    frames: int = FRAMES
    batch_size: int = BATCH_SIZE
    real_stats: tuple[np.ndarray, np.ndarray] | None = None  # cached mean and covariance of the real set


def real_fvd_stats(real: VideoSet, context: EvalContext) -> tuple[np.ndarray, np.ndarray]:
    return gaussian_stats(embed_videos(real.videos, context.i3d, context.frames, context.batch_size,
                                       progress="I3D real"))


def _fvd(fake: VideoSet, real: VideoSet, context: EvalContext) -> dict:
    if context.i3d is None:
        raise ValueError("the fvd metric needs the I3D model in its context (see weights.load_i3d)")
    real_stats = context.real_stats or real_fvd_stats(real, context)
    fake_stats = gaussian_stats(embed_videos(fake.videos, context.i3d, context.frames, context.batch_size,
                                             progress="I3D generated"))
    return {"fvd": frechet_distance_from_stats(*fake_stats, *real_stats)}


def _mask_motion(fake: VideoSet, real: VideoSet, context: EvalContext) -> dict:
    if fake.masks is None:
        return {}  # only the two-stream model has a mask
    masks = torch.from_numpy(np.stack(fake.masks)).unsqueeze(1)  # b 1 t h w
    return diagnostics.mask_motion(fake.tensor(), masks)


def _flicker(fake: VideoSet, real: VideoSet, context: EvalContext) -> dict:
    return {"flicker": diagnostics.static_flicker(fake.tensor()),
            "flicker_real": diagnostics.static_flicker(real.tensor())}


def _motion_energy(fake: VideoSet, real: VideoSet, context: EvalContext) -> dict:
    return diagnostics.motion_energy_distance(fake.tensor(), real.tensor())


def _colour(fake: VideoSet, real: VideoSet, context: EvalContext) -> dict:
    return {"colour_w1": diagnostics.colour_distance(fake.tensor(), real.tensor())}


Metric = Callable[[VideoSet, VideoSet, EvalContext], dict]
METRICS: dict[str, Metric] = {
    "fvd": _fvd,
    "mask_motion": _mask_motion,
    "flicker": _flicker,
    "motion_energy": _motion_energy,
    "colour": _colour,
}
NEEDS_I3D = {"fvd"}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; choose from {sorted(METRICS)}") from None
