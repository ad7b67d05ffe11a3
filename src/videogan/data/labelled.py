"""Labelled video collections: class-per-folder trees and UCF-101 roots with official splits.

A UCF-101 root holds `classInd.txt` ("1 ApplyEyeMakeup" per line) and `trainlist0N.txt` / `testlist0N.txt`
(paths such as "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", train lines followed by a 1-based label),
either at the root or in `ucfTrainTestlist/`; the class folders sit at the root or in `UCF-101/`.
Labels here are 0-based class indices. Videos are decoded at their own size and length and adapted to the
model per clip, so no video's dimensions can break a batch.
"""
from __future__ import annotations

import os
from pathlib import Path

from .decode import VIDEO_EXTENSIONS, is_frame_folder

SPLIT_DIRS = (".", "ucfTrainTestlist")
VIDEO_DIRS = (".", "UCF-101")


def _find(root: Path, dirs: tuple[str, ...], name: str) -> Path | None:
    for sub in dirs:
        if (root / sub / name).exists():
            return root / sub / name
    return None


def is_ucf_root(path: str | os.PathLike) -> bool:
    return Path(path).is_dir() and _find(Path(path), SPLIT_DIRS, "classInd.txt") is not None


def _ucf(root: Path, split: int | None, subset: str) -> tuple[list[tuple[Path, int]], list[str]]:
    index_file = _find(root, SPLIT_DIRS, "classInd.txt")
    classes = [line.split()[1] for line in index_file.read_text().splitlines() if line.strip()]
    label_of = {name: i for i, name in enumerate(classes)}
    video_root = next((root / d for d in VIDEO_DIRS if (root / d / classes[0]).is_dir()), root)
    if split is None:  # everything in the class folders
        names = sorted(str(p.relative_to(video_root)) for name in classes if (video_root / name).is_dir()
                       for p in (video_root / name).iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    else:
        if subset not in ("train", "test"):
            raise ValueError(f"subset must be train or test, got {subset!r}")
        list_file = _find(root, SPLIT_DIRS, f"{subset}list{split:02d}.txt")
        if list_file is None:
            raise FileNotFoundError(f"{root}: no {subset}list{split:02d}.txt for --split {split}")
        names = [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]
    items = []
    for name in names:
        folder = name.replace("\\", "/").split("/")[0]
        if folder not in label_of:
            raise ValueError(f"{root}: {name!r} is in no class of classInd.txt")
        items.append((video_root / name, label_of[folder]))
    return items, classes


def _class_folders(root: Path) -> tuple[list[tuple[Path, int]], list[str]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    items = []
    for label, name in enumerate(classes):
        for dirpath, dirnames, filenames in os.walk(root / name):
            dirnames.sort()
            if is_frame_folder(dirpath):
                items.append((Path(dirpath), label))
                continue
            items += [(Path(dirpath) / f, label) for f in sorted(filenames) if Path(f).suffix.lower() in VIDEO_EXTENSIONS]
    return items, classes


def list_labelled(root: str | os.PathLike, split: int | None = None,
                  subset: str = "train") -> tuple[list[tuple[Path, int]], list[str]]:
    """(videos as (path, label), class names) of a UCF-101 root (`split` 1-3, or None for all videos)
    or a class-per-folder tree (no official split: `split` must be None)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    if is_ucf_root(root):
        return _ucf(root, split, subset)
    if split is not None:
        raise ValueError(f"{root}: --split needs a UCF-101 root with classInd.txt and split lists")
    items, classes = _class_folders(root)
    if not items:
        raise ValueError(f"{root}: no class folders with videos")
    return items, classes


def open_labelled(root: str | os.PathLike, frames: int, size: int, split: int | None = None, subset: str = "train",
                  seed: int = 0):
    """A dataset of `list_labelled(root, split, subset)`: random temporal crops for train, centre for test."""
    from .formats import VideoFiles

    items, classes = list_labelled(root, split, subset)
    dataset = VideoFiles(items, frames, size, seed=seed, random_crop=subset == "train")
    dataset.classes = classes
    return dataset
