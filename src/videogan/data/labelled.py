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

from ..files import read_text_lines
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


def _class_index(index_file: Path) -> list[str]:
    """Class names in classInd.txt's own numbering ("N Name" lines, N from 1), not its line order."""
    names = {}
    for number, line in enumerate(read_text_lines(index_file, "class index"), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[0].isdigit():
            raise ValueError(f"{index_file}:{number}: expected 'N ClassName', got {line!r}")
        if int(parts[0]) in names:
            raise ValueError(f"{index_file}:{number}: class number {parts[0]} appears twice")
        names[int(parts[0])] = parts[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        raise ValueError(f"{index_file}: class numbers must run 1..{len(names)} without gaps")
    return [names[i] for i in range(1, len(names) + 1)]


def _split_names(root: Path, split: int, subset: str) -> list[tuple[str, str]]:
    """(video path, "FILE:LINE" where it is listed) of one official split list."""
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be train or test, got {subset!r}")
    list_file = _find(root, SPLIT_DIRS, f"{subset}list{split:02d}.txt")
    if list_file is None:
        raise FileNotFoundError(f"{root}: no {subset}list{split:02d}.txt for --split {split}")
    return [(line.split()[0], f"{list_file}:{number}")
            for number, line in enumerate(read_text_lines(list_file, "split list"), 1) if line.strip()]


def _ucf(root: Path, split: int | None, subset: str) -> tuple[list[tuple[Path, int]], list[str]]:
    index_file = _find(root, SPLIT_DIRS, "classInd.txt")
    classes = _class_index(index_file)
    if not classes:
        raise ValueError(f"{index_file}: no classes")
    label_of = {name: i for i, name in enumerate(classes)}
    video_root = next((root / d for d in VIDEO_DIRS if (root / d / classes[0]).is_dir()), root)
    if split is None:  # everything in the class folders
        items = [(p, label) for label, name in enumerate(classes) if (video_root / name).is_dir()
                 for p in sorted((video_root / name).iterdir()) if p.suffix.lower() in VIDEO_EXTENSIONS]
        return items, classes
    items = []
    for name, where in _split_names(root, split, subset):
        folder = name.replace("\\", "/").split("/")[0]
        if folder not in label_of:
            raise ValueError(f"{where}: {name!r} is in no class of {index_file}")
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
