"""Named metrics of generated videos against real ones: `evaluate --metrics NAME ...` picks from here.

Every metric takes the generated and the real `VideoSet` and an `EvalContext` with what it may need
(the I3D model, cached real statistics), and returns named numbers. Definitions: docs/evaluation.md.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from . import diagnostics
from .builtin_score import builtin_score
from .fvd import FRAMES, Progress, embed_videos, frechet_distance_from_stats, gaussian_stats
from .i3d import InceptionI3d


@dataclass
class VideoSet:
    """t h w 3 uint8 videos, and for a two-stream generator its masks (t h w float in [0, 1]); for real data
    with classes (a prepared folder of class subfolders), each video's class."""

    videos: Sequence[np.ndarray]
    masks: Sequence[np.ndarray] | None = None
    labels: Sequence[str] | None = None

    def batches(self, size: int = 64) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """The videos as b 3 t h w float tensors in [-1, 1] (the diagnostics' input) with their masks
        b 1 t h w, a batch at a time: the float copies of a whole set (GBs at n = 2048) never exist."""
        for start in range(0, len(self.videos), size):
            chunk = torch.from_numpy(np.stack([np.asarray(v) for v in self.videos[start:start + size]]))  # b t h w 3
            masks = (torch.from_numpy(np.stack(self.masks[start:start + size])).unsqueeze(1)
                     if self.masks is not None else None)
            yield chunk.permute(0, 4, 1, 2, 3).float().div(127.5).sub(1), masks

    def pixels_per_channel(self) -> int:
        return len(self.videos) * int(np.prod(np.shape(self.videos[0])[:3]))


@dataclass(frozen=True)
class EvalContext:
    i3d: InceptionI3d | None = None  # loaded only when a metric that needs it is selected
    frames: int = FRAMES
    batch_size: int | None = None  # videos per I3D pass (None: fvd.batch_size_for the device)
    real_stats: tuple[np.ndarray, np.ndarray] | None = None  # cached mean and covariance of the real set
    real_description: dict | None = None  # the real set's `describe()`: a metric of one dataset checks it
    progress: Progress | None = None  # the bar and time estimate over every I3D pass of an evaluation
    # n 400 I3D embeddings of each set by name ("generated", "real", "floor"): a context is one evaluation's,
    # so the metrics that need a set's embeddings (fvd, class_coverage) share one I3D pass over it
    embedded: dict[str, np.ndarray] = field(default_factory=dict)


def _stage(context: EvalContext, name: str) -> Progress | None:
    return context.progress.stage(name) if context.progress else None


def embeddings(videos: VideoSet, context: EvalContext, name: str) -> np.ndarray:
    """The set's n 400 I3D embeddings, embedded at its first use in this context."""
    if context.i3d is None:
        raise ValueError("I3D metrics need the I3D model in their context (see weights.load_i3d)")
    if name not in context.embedded:
        context.embedded[name] = embed_videos(videos.videos, context.i3d, context.frames, context.batch_size,
                                              _stage(context, name))
    return context.embedded[name]


def real_fvd_stats(real: VideoSet, context: EvalContext, name: str = "real") -> tuple[np.ndarray, np.ndarray]:
    return gaussian_stats(embeddings(real, context, name))


def _fvd(fake: VideoSet, real: VideoSet, context: EvalContext) -> dict:
    real_stats = context.real_stats or real_fvd_stats(real, context)
    fake_stats = gaussian_stats(embeddings(fake, context, "generated"))
    # FVD's two parts: how far apart the sets' means are, and (through the covariances) how varied each
    # set is; a generator that draws too few kinds of video has a spread well under the data's
    offset = fake_stats[0] - real_stats[0]
    return {"fvd": frechet_distance_from_stats(*fake_stats, *real_stats), "fvd_mean_term": float(offset @ offset),
            "i3d_spread": float(np.trace(fake_stats[1])), "i3d_spread_real": float(np.trace(real_stats[1]))}


def has_classes(real: VideoSet) -> bool:
    """Whether class_coverage can measure the real set: it is labelled, with two or more classes."""
    return real.labels is not None and len(set(real.labels)) > 1


def _class_coverage(fake: VideoSet, real: VideoSet, context: EvalContext) -> dict:
    if not has_classes(real):
        return {}  # unlabelled data (the built-in set, a folder of videos): no classes to cover
    gen, ref = embeddings(fake, context, "generated"), embeddings(real, context, "real")  # n 400, m 400
    # squared distances up to |gen_i|^2, which is the same along a row and so does not move its minimum;
    # n m floats (32 MB at n = m = 2048) where the n m 400 differences would be GBs
    nearest = np.argmin((ref ** 2).sum(1) - 2 * gen @ ref.T, axis=1)  # n: index of each one's nearest real video
    labels = np.asarray(real.labels)
    shares = {c: (float(np.mean(labels[nearest] == c)), float(np.mean(labels == c))) for c in sorted(set(real.labels))}
    return {"class_share_tv": 0.5 * sum(abs(g - r) for g, r in shares.values()),
            "class_share_min_ratio": min(g / r for g, r in shares.values()),
            "class_shares": {c: {"generated": g, "real": r} for c, (g, r) in shares.items()}}


def _mask_motion(fake: VideoSet, real: VideoSet, context: EvalContext) -> dict:
    if fake.masks is None:
        return {}  # only the two-stream model has a mask
    return diagnostics.mask_motion_from_sums(sum(diagnostics.mask_motion_sums(v, m) for v, m in fake.batches()))


def _mask_location(fake: VideoSet, real: VideoSet, context: EvalContext) -> dict:
    if fake.masks is None:
        return {}
    return diagnostics.mask_location(sum(diagnostics.mask_map_sums(m) for _, m in fake.batches()),
                                     sum(diagnostics.motion_map_sums(v) for v, _ in real.batches()))


def _flicker_of(videos: VideoSet) -> float:
    total, count = sum(diagnostics.static_flicker_sums(v) for v, _ in videos.batches())
    return total / count


def _flicker(fake: VideoSet, real: VideoSet, context: EvalContext) -> dict:
    return {"flicker": _flicker_of(fake), "flicker_real": _flicker_of(real)}


def _motion_energy(fake: VideoSet, real: VideoSet, context: EvalContext) -> dict:
    gen, ref = (np.concatenate([diagnostics.motion_energy(v) for v, _ in s.batches()]) for s in (fake, real))
    return diagnostics.motion_energy_distance(gen, ref)


def _colour_samples(videos: VideoSet, max_values: int = 200_000) -> list[np.ndarray]:
    step = max(1, videos.pixels_per_channel() // max_values)
    batches = [diagnostics.colour_samples(v, step) for v, _ in videos.batches()]
    return [np.concatenate([b[c] for b in batches]) for c in range(3)]


def _colour(fake: VideoSet, real: VideoSet, context: EvalContext) -> dict:
    return {"colour_w1": diagnostics.colour_distance(_colour_samples(fake), _colour_samples(real))}


Metric = Callable[[VideoSet, VideoSet, EvalContext], dict]
METRICS: dict[str, Metric] = {
    "fvd": _fvd,
    "mask_motion": _mask_motion,
    "mask_location": _mask_location,
    "flicker": _flicker,
    "motion_energy": _motion_energy,
    "colour": _colour,
    "builtin_score": builtin_score,
    "class_coverage": _class_coverage,
}
NEEDS_I3D = {"fvd", "class_coverage"}
# The numbers each metric writes into a result (docs/evaluation.md's table), in the order shown: the report's
# table and plots and TensorBoard's eval/ tags are made from these, and tests/test_report.py runs every metric
# to check that it writes exactly these keys (and class_coverage's class_shares, a description, not a number).
# `fvd_real_floor` is written by `evaluate` beside the FVD.
_BUILTIN = ("builtin_shape_score", "builtin_motion_score", "builtin_named_fraction")
METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "fvd": ("fvd", "fvd_real_floor", "fvd_mean_term", "i3d_spread", "i3d_spread_real"),
    "mask_motion": ("mask_on_moving", "mask_on_static", "moving_fraction"),
    "mask_location": ("mask_motion_correlation", "mask_where_real_moves", "mask_where_real_still"),
    "flicker": ("flicker", "flicker_real"),
    "motion_energy": ("motion_energy", "motion_energy_real", "motion_energy_w1"),
    "colour": ("colour_w1",),
    "builtin_score": (*_BUILTIN, *(f"{key}_real" for key in _BUILTIN)),
    "class_coverage": ("class_share_tv", "class_share_min_ratio"),  # and class_shares, each class's two shares
}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; choose from {sorted(METRICS)}") from None
