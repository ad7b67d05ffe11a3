"""How much a dataset's clips move, checked before training the two-stream model.

The decomposition needs motion to place its mask: when a person barely moves within a clip, the still
stream can hold the whole person and the mask ends up on the wall around the arms (docs/results.md 6b).
The measure is the mean |frame-to-frame change| of clips in [-1, 1]: 0.018 for weizmann-4's people at the
camera's 25 frames/s, where the decomposition came out inside out; 0.025-0.029 at 12.5 frames/s, where it
did not; 0.037 on the built-in dataset.
"""
from __future__ import annotations

import math

import numpy as np
from torch.utils.data import Dataset, IterableDataset

STILL_CLIPS = 0.02  # below this mean |frame-to-frame change| the clips are too still for the decomposition
SAMPLED_CLIPS = 32  # evenly spread over the dataset: a few seconds to read, steady to about 0.002 on weizmann-4


def mean_frame_change(dataset: Dataset, clips: int = SAMPLED_CLIPS) -> float:
    """Mean |x[t+1] - x[t]| over `clips` clips spread evenly over a map-style dataset of b 3 t h w items."""
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(clips, len(dataset))).round().astype(int))
    change = [(v[:, 1:] - v[:, :-1]).abs().mean().item()
              for v in (dataset[int(i)]["video"].float() for i in picks)]  # 3 t h w each
    return float(np.mean(change))


def stillness_warning(dataset: Dataset) -> str | None:
    """A one-line warning when the clips move too little for the two-stream decomposition; None otherwise
    (also for streamed data, which has no random access, and for clips of a single frame)."""
    if isinstance(dataset, IterableDataset) or len(dataset) == 0:
        return None
    change = mean_frame_change(dataset)
    if math.isnan(change) or change >= STILL_CLIPS:  # NaN: clips of one frame, no change to speak of
        return None
    return (f"the training clips move little (mean frame-to-frame change {change:.3f}, under {STILL_CLIPS}): the "
            "two-stream model may put its mask on the still scene instead of what moves. If the camera's frame "
            "rate is high for the motion, prepare clips at a lower one (`videogan prepare --fps`, e.g. half the "
            "camera's) or with more frames apart; see docs/results.md, the inverted decomposition")
