"""Labelled videos for recognition: the sources, the train/test split, nested labelled subsets, clips.

A `LabelledVideos` is all the tasks need from a source: per video a label, a name, a dataset of random
temporal crops for training (`clips`) and the whole video for evaluation (`video`). Two sources plug in:
the built-in dataset's motion classes and video files (class-per-folder trees and UCF-101 roots, read by
`data.labelled`). Videos of any size and length are adapted per clip (`data.clips.adapt_clip`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ...data.clips import adapt_clip
from ...data.formats import ClipDataset, DecodedVideos, VideoFiles, decoding_side
from ...data.labelled import is_ucf_root, list_labelled
from ...data.synthetic import MOTIONS, render_video
from .config import LabelledDataConfig
from .groups import hold_out_groups, read_groups


class SyntheticClips(ClipDataset):
    """Built-in videos `indices` of (seed, frames): random temporal crops of `clip_frames`."""

    def __init__(self, indices, labels, seed: int, frames: int, max_objects: int, clip_frames: int, size: int,
                 crop_seed: int = 0):
        super().__init__(clip_frames, size, crop_seed, random_crop=True)
        self.indices, self.labels = list(indices), list(labels)
        self.video_seed, self.video_frames, self.max_objects = seed, frames, max_objects

    def __len__(self) -> int:
        return len(self.indices)

    def name(self, index: int) -> str:
        return f"built-in video {self.indices[index]}"

    def load(self, index, rng):
        # rendered at the model's size: the video is then only cropped in time
        video = render_video(self.video_seed, self.indices[index], self.video_frames, self.size, self.max_objects)
        return video["video"], self.labels[index]


@dataclass(frozen=True)
class LabelledVideos:
    """Videos with class labels. `sources[i]` is a path, or for the built-in set a video index."""

    sources: tuple
    labels: tuple[int, ...]
    classes: tuple[str, ...]
    origin: str  # where they come from, for messages
    synthetic: LabelledDataConfig | None = None  # set for the built-in set
    groups: tuple[str, ...] | None = None  # `--groups`: related videos, kept on one side of every split
    fps: float | None = None  # decoding rate of video files (None: each file's own)
    # video files decoded once, shared by every subset, training crop and evaluation of a sweep
    decoded: DecodedVideos = field(default_factory=DecodedVideos, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, indices) -> "LabelledVideos":
        indices = [int(i) for i in indices]
        return replace(self, sources=tuple(self.sources[i] for i in indices),
                       labels=tuple(self.labels[i] for i in indices),
                       groups=None if self.groups is None else tuple(self.groups[i] for i in indices))

    def hold_out(self, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(kept, held) indices: about `fraction` of each class held out, whole groups when there are groups."""
        if self.groups is None:
            return hold_out_per_class(self.labels, fraction, rng)
        return hold_out_groups(self.labels, self.groups, fraction, rng)

    def clips(self, frames: int, size: int, seed: int) -> ClipDataset:
        """Training clips: a random temporal crop per item, seeded by (seed, epoch, item)."""
        if self.synthetic:
            s = self.synthetic
            return SyntheticClips(self.sources, self.labels, s.synthetic_seed, s.synthetic_frames, s.max_objects,
                                  frames, size, crop_seed=seed)
        return VideoFiles(list(zip(self.sources, self.labels)), frames, size, seed=seed, random_crop=True,
                          fps=self.fps, decoded=self.decoded)

    def video(self, i: int, size: int) -> np.ndarray:
        """The whole video i: t h w 3 uint8 (built-in: size x size; files: short side near 2 x size)."""
        if self.synthetic:
            s = self.synthetic
            return render_video(s.synthetic_seed, self.sources[i], s.synthetic_frames, size, s.max_objects)["video"]
        # a test video that cannot be read is an error, not skipped: skipping would change the test set
        try:
            return self.decoded.get(self.sources[i], self.fps, decoding_side(size))
        except ValueError as err:
            raise ValueError(f"{self.sources[i]}: {err}") from None


def covering_clips(video: np.ndarray, frames: int, size: int) -> torch.Tensor:
    """Clips of `frames` that together cover the video: n 3 frames size size.

    Back-to-back windows from the start, plus one ending at the last frame when the length is not a
    multiple (it overlaps its neighbour); a video shorter than one clip is one clip padded with its last frame.
    """
    length = len(video)
    starts = list(range(0, max(length - frames, 0) + 1, frames))
    if length > frames and starts[-1] != length - frames:
        starts.append(length - frames)
    return torch.stack([adapt_clip(video[s:s + frames], frames, size, None) for s in starts])


def hold_out_per_class(labels, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held) sorted indices: round(fraction * n) random videos of each class held out, at least one
    and never all, so a class keeps a video on both sides; a class with a single video is only kept."""
    labels = np.asarray(labels)
    kept, held = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_held = min(max(1, round(fraction * len(members))), len(members) - 1)
        held += members[:n_held].tolist()
        kept += members[n_held:].tolist()
    return np.sort(np.asarray(kept, dtype=int)), np.sort(np.asarray(held, dtype=int))


def _check_files(videos: LabelledVideos, listed_in: str) -> None:
    missing = [str(p) for p in videos.sources if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"{listed_in} names {len(missing)} video(s) that do not exist, "
                                f"first: {', '.join(missing[:3])}")


def check_classes(train: LabelledVideos) -> None:
    """Every class needs a training video: a class without one could never be predicted."""
    counts = np.bincount(np.asarray(train.labels, dtype=int), minlength=len(train.classes))
    empty = [train.classes[c] for c in np.flatnonzero(counts == 0)]
    if empty:
        raise ValueError(f"{train.origin}: class(es) with no training videos: {', '.join(empty[:5])}"
                         f"{' ...' if len(empty) > 5 else ''} ({len(empty)} of {len(train.classes)})")


def load_labelled(cfg: LabelledDataConfig) -> tuple[LabelledVideos, LabelledVideos]:
    """(train, test) videos of the labelled source `cfg.data`; the same flags always give the same split."""
    if cfg.groups and (cfg.data == "synthetic" or is_ucf_root(cfg.data)):
        raise ValueError(f"--groups applies to a class-per-folder tree; {cfg.data} is split by "
                         + ("independent renders" if cfg.data == "synthetic" else
                            "its official lists, which already keep each gXX group on one side"))
    if cfg.data == "synthetic":
        origin = f"built-in dataset (seed {cfg.synthetic_seed})"
        # a video's label is drawn before anything else: a 2-frame 8x8 render gives it cheaply
        labels = np.array([render_video(cfg.synthetic_seed, i, 2, 8)["label"] for i in range(cfg.synthetic_videos)])
        everything = LabelledVideos(tuple(range(cfg.synthetic_videos)), tuple(labels.tolist()), MOTIONS, origin, cfg)
    elif is_ucf_root(cfg.data):
        split = cfg.split or 1
        sets = []
        for subset in ("train", "test"):
            items, classes = list_labelled(cfg.data, split, subset)
            videos = LabelledVideos(tuple(p for p, _ in items), tuple(label for _, label in items), tuple(classes),
                                    f"{cfg.data} split {split} ({subset})", fps=cfg.fps or None)
            _check_files(videos, f"{cfg.data}: {subset}list{split:02d}.txt")
            sets.append(videos)
        train, test = sets
        everything = None
    else:
        items, classes = list_labelled(cfg.data, cfg.split)
        sources = tuple(p for p, _ in items)
        groups = tuple(read_groups(cfg.groups, sources, cfg.data)) if cfg.groups else None
        everything = LabelledVideos(sources, tuple(label for _, label in items), tuple(classes), str(cfg.data),
                                    groups=groups, fps=cfg.fps or None)
    if everything is not None:
        train_idx, test_idx = everything.hold_out(cfg.test_fraction, np.random.default_rng(cfg.split_seed))
        train, test = everything.subset(train_idx), everything.subset(test_idx)
    check_classes(train)
    if not len(test):
        raise ValueError(f"{train.origin}: no test videos (each class needs at least two videos, or two groups, "
                         "to hold one out)")
    return train, test


def parse_fraction(text: str) -> Fraction:
    value = Fraction(text)
    if not 0 < value <= 1:
        raise ValueError(f"labelled fraction {text!r} is not in (0, 1]")
    return value


def nested_subsets(train: LabelledVideos, fractions, seed: int) -> dict[Fraction, np.ndarray]:
    """Indices of train videos for each fraction: per class the first max(1, round(f * n_c)) videos of one
    seeded permutation of that class, so every class keeps the same share and smaller sets lie inside larger."""
    rng = np.random.default_rng([seed, 7919])
    labels = np.asarray(train.labels)
    orders = [rng.permutation(np.flatnonzero(labels == c)) for c in range(len(train.classes))]
    return {f: np.sort(np.concatenate([o[:max(1, round(f * len(o)))] for o in orders]))
            for f in sorted(fractions)}
