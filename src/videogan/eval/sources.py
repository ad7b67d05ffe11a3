"""Sets of videos to score: a folder of video files, or a dataset (`synthetic[:SEED][,OPTION=VALUE...]`, the
built-in set with its DataConfig options max_objects and object_scale, or a prepared dataset).

A source is a sized, re-iterable sequence of t h w 3 uint8 videos plus a description for the result
JSON, so a run records exactly which videos it measured. The description is also the key of the cached
FVD statistics of real sets: everything that changes the videos (frames, render size, subset, the files'
contents) is in it.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

from ..config import ConfigError, DataConfig, ModelConfig
from ..data.decode import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from ..data.shards import SHARD_DIR
from ..data.video_io import to_uint8

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".gif")
# what a built-in dataset's spec may set after its seed: synthetic:1235,max_objects=1,object_scale=2
SYNTHETIC_OPTIONS = ("max_objects", "object_scale")


def dataset_config(spec: str) -> DataConfig:
    """The DataConfig a dataset spec names: `synthetic[:SEED][,max_objects=N][,object_scale=S]`, or a
    prepared dataset's path (taken whole: a path may hold commas)."""
    head, *options = spec.split(",")
    name, _, seed = head.partition(":")
    if name != "synthetic":
        return DataConfig(data=spec)
    fields = [("data_seed", seed)] if seed else []
    for option in options:
        key, _, value = option.partition("=")
        if key not in SYNTHETIC_OPTIONS or not value:
            raise ValueError(f"dataset {spec!r}: {option!r} is not OPTION=VALUE for an option of the built-in "
                             f"dataset ({', '.join(SYNTHETIC_OPTIONS)})")
        fields.append((key, value))
    try:
        return DataConfig(**{key: type(getattr(DataConfig, key))(value) for key, value in fields})
    except (ConfigError, ValueError) as err:  # out of range, or not a number
        raise ValueError(f"dataset {spec!r}: {err}") from None


def non_default_options(data: DataConfig) -> dict:
    """The built-in dataset's options that differ from the defaults (a description names only those, so the
    descriptions, and the FVD cache keys made from them, of default data stay what they were)."""
    return {key: getattr(data, key) for key in SYNTHETIC_OPTIONS if getattr(data, key) != getattr(DataConfig, key)}


def synthetic_spec(data: DataConfig, seed_offset: int = 0) -> str:
    """The spec of the built-in dataset `data` describes, at seed data_seed + seed_offset (1: its held-out
    videos)."""
    options = "".join(f",{key}={value}" for key, value in non_default_options(data).items())
    return f"synthetic:{data.data_seed + seed_offset}{options}"


def read_video(path: Path, frames: int) -> np.ndarray:
    """The first `frames` frames of a video file: t h w 3 uint8."""
    out = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                out.append(frame.to_ndarray(format="rgb24"))
                if len(out) == frames:
                    break
    except (av.error.FFmpegError, IndexError) as err:  # IndexError: the file has no video stream
        raise ValueError(f"{path}: cannot decode a video ({err})") from None
    if len(out) < frames:
        raise ValueError(f"{path}: has {len(out)} frames, but each video needs at least {frames}")
    return np.stack(out)


def fingerprint(files: list[Path], root: Path) -> str:
    """A hash of the files' names, sizes and modification times: changes when a file is replaced."""
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _dataset_files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())


def _subset(count: int, n: int | None, seed: int, what: str) -> np.ndarray:
    """Indices of the videos to use: all, or n drawn without replacement with `seed` (sorted)."""
    if n is None or n == count:
        return np.arange(count)
    if n > count:
        raise ValueError(f"{what} has {count} videos, fewer than --n {n}")
    return np.sort(np.random.default_rng(seed).choice(count, n, replace=False))


class VideoFolder(Sequence):
    """The video files directly inside a folder, in name order (or a seeded subset of n)."""

    def __init__(self, folder: str | Path, frames: int, n: int | None = None, seed: int = 0):
        self.folder, self.frames, self.seed = Path(folder), frames, seed
        files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not files:
            raise ValueError(f"{self.folder}: no video files ({', '.join(VIDEO_SUFFIXES)})")
        self.files = [files[i] for i in _subset(len(files), n, seed, str(self.folder))]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> np.ndarray:
        return read_video(self.files[index], self.frames)

    def members(self) -> list[str]:
        """What identifies each video of the set (to tell how much two sets share)."""
        return [str(p.resolve()) for p in self.files]

    def labels(self) -> None:
        return None  # loose files carry no class

    def describe(self) -> dict:
        return {"kind": "video folder", "path": str(self.folder.resolve()), "n": len(self), "seed": self.seed,
                "frames": self.frames, "fingerprint": fingerprint(self.files, self.folder)}


class DatasetVideos(Sequence):
    """Clips of a dataset from `videogan.data.build_dataset`, back in uint8 (its videos are 3 t h w in [-1, 1])."""

    def __init__(self, spec: str, frames: int, size: int, n: int | None, seed: int = 0):
        from ..data import build_dataset

        data = dataset_config(spec)
        try:
            self.dataset = build_dataset(data, ModelConfig(frames=frames, size=size))
        except ConfigError as err:
            raise ValueError(f"dataset {spec!r} at frames={frames}, size={size}: {err}") from None
        self.spec, self.data, self.frames, self.size, self.seed = spec, data, frames, size, seed
        self.indices = _subset(len(self.dataset), n, seed, f"dataset {spec!r}")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> np.ndarray:
        return to_uint8(self.dataset[int(self.indices[index])]["video"])  # 3 t h w in [-1, 1] -> t h w 3

    def members(self) -> list[tuple[str, int, int]]:
        """What identifies each clip of the set (to tell how much two sets share)."""
        return [(self.data.data, self.data.data_seed, int(i)) for i in self.indices]

    def labels(self) -> list[str] | None:
        """Each clip's class, where the data is prepared from one subfolder per class (its manifest's "class"
        field, empty without classes); else None."""
        records = getattr(self.dataset, "records", None)  # a prepared dataset's manifest lines
        if records is None:
            return None
        classes = [records[int(i)].get("class") for i in self.indices]
        return classes if all(classes) else None

    def describe(self) -> dict:
        described = {"kind": "dataset", "data": self.data.data, "data_seed": self.data.data_seed,
                     **(non_default_options(self.data) if self.data.data == "synthetic" else {}), "n": len(self),
                     "seed": self.seed, "frames": self.frames, "size": self.size,
                     "first_indices": [int(i) for i in self.indices[:8]]}
        if self.data.data != "synthetic":
            path = Path(self.data.data)
            described["fingerprint"] = fingerprint(_dataset_files(path), path if path.is_dir() else path.parent)
        return described


def _is_video_folder(spec: str) -> bool:
    """Whether `spec` is a folder holding video files (else a dataset); an error for neither."""
    path = Path(spec)
    if path.is_dir() and any(p.suffix.lower() in VIDEO_SUFFIXES for p in path.iterdir()):
        return True
    if dataset_config(spec).data != "synthetic" and not path.exists():
        raise FileNotFoundError(f"{spec}: no such folder of videos or dataset")
    if path.is_dir() and not (path / SHARD_DIR).is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
        if not any(p.suffix.lower() in (*VIDEO_EXTENSIONS, *IMAGE_EXTENSIONS) for p in files):
            raise ValueError(f"{spec}: " + (f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in the folder" if files
                                            else "the folder is empty") + ", and it is no prepared dataset")
    return False


def open_source(spec: str, frames: int, n: int | None, seed: int, size: int) -> VideoFolder | DatasetVideos:
    """A folder holding video files, else a dataset: the built-in one (`synthetic[:SEED][,OPTION=VALUE...]`) or
    a prepared path."""
    if _is_video_folder(spec):
        return VideoFolder(spec, frames, n, seed)
    if n is None:
        raise ValueError(f"{spec}: a dataset needs --n, the number of videos to draw from it")
    return DatasetVideos(spec, frames, size, n, seed)


def count_videos(spec: str, frames: int, size: int) -> int:
    """How many videos a source (`open_source`'s spec) holds to draw a subset from, read before any video is."""
    return len(VideoFolder(spec, frames) if _is_video_folder(spec) else DatasetVideos(spec, frames, size, None))
