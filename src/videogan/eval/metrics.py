"""Named metrics of generated videos against real ones: `evaluate --metrics NAME ...` picks from here.

Every metric takes the generated and the real videos (sequences of t h w 3 uint8) and an `EvalContext`
with what it may need (the I3D model, frames, batch size), and returns one float.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .fvd import BATCH_SIZE, FRAMES, fvd
from .i3d import InceptionI3d


@dataclass(frozen=True)
class EvalContext:
    i3d: InceptionI3d | None = None  # loaded only when a metric that needs it is selected
    frames: int = FRAMES
    batch_size: int = BATCH_SIZE


def _fvd(fake: Sequence[np.ndarray], real: Sequence[np.ndarray], context: EvalContext) -> float:
    if context.i3d is None:
        raise ValueError("the fvd metric needs the I3D model in its context (see weights.load_i3d)")
    return fvd(fake, real, context.i3d, context.frames, context.batch_size)


Metric = Callable[[Sequence[np.ndarray], Sequence[np.ndarray], EvalContext], float]
METRICS: dict[str, Metric] = {
    "fvd": _fvd,
}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; choose from {sorted(METRICS)}") from None
