"""Training data from disk: prepared shards, the original VideoGAN list format, or a folder of videos.

Every reader yields `{"video": 3 t h w float in [-1, 1], "label": int}` adapted to the model's frames and
size (see `clips.adapt_clip`). Random temporal crops come from a generator seeded by (seed, epoch, index),
so a clip does not depend on which worker loads it or on global RNG state; call `set_epoch` to vary them.
A file that fails to load is logged once (naming it and the reason) and the next item is returned instead.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..config import DATA_FORMATS as FORMATS
from ..files import read_text_lines
from .clips import adapt_clip
from .decode import VIDEO_EXTENSIONS, count_frames, is_frame_folder, iter_frames, probe
from .images import open_image
from .remote import is_url
from .shards import SHARD_DIR, load_clip, read_manifests
from .streaming import StreamedShards

log = logging.getLogger(__name__)
MAX_SKIPS = 100  # consecutive failures before a dataset gives up: the data, not one file, is broken


class ClipDataset(Dataset):
    """Shared behaviour: seeded crops, adaptation to the model, and skipping of unreadable items."""

    def __init__(self, frames: int, size: int, seed: int = 0, random_crop: bool = True):
        self.frames, self.size, self.seed, self.random_crop = frames, size, seed, random_crop
        self.epoch = 0
        self._reported: set[str] = set()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        raise NotImplementedError

    def load(self, index: int, rng: np.random.Generator | None) -> tuple[np.ndarray, int]:
        """(t h w 3 uint8 video of any length and size, label) of item `index`."""
        raise NotImplementedError

    def name(self, index: int) -> str:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        for attempt in range(min(MAX_SKIPS, len(self))):
            item = (index + attempt) % len(self)
            rng = np.random.default_rng([self.seed, self.epoch, item]) if self.random_crop else None
            try:
                video, label = self.load(item, rng)
            except Exception as err:  # any failure of one file: report it, serve another
                name = self.name(item)
                if name not in self._reported:
                    self._reported.add(name)
                    log.warning("skipping %s: %s", name, err)
                continue
            return {"video": adapt_clip(video, self.frames, self.size, rng), "label": label}
        raise ValueError(f"{min(MAX_SKIPS, len(self))} consecutive items failed to load, from {self.name(index)}: "
                         "the data, not one file, is broken (see the warnings above)")


class PreparedShards(ClipDataset):
    """Clips written by `videogan prepare` (see shards.py)."""

    def __init__(self, root: str | os.PathLike, frames: int, size: int, seed: int = 0, random_crop: bool = True):
        super().__init__(frames, size, seed, random_crop)
        self.folder = Path(root) / SHARD_DIR
        self.records, _ = read_manifests(self.folder)
        if not self.records:
            raise ValueError(f"{root}: no complete shards with clips (run `videogan prepare` first)")

    def __len__(self) -> int:
        return len(self.records)

    def name(self, index: int) -> str:
        record = self.records[index]
        return f"{self.folder / record['shard']}.tar:{record['key']} (from {record['source']})"

    def load(self, index, rng):
        record = self.records[index]
        return load_clip(self.folder, record), int(record.get("label", -1))


class VideoGANList(ClipDataset):
    """The original release's format: a list file of `relative/path.jpg [label]` lines; each JPEG stacks a
    clip's frames vertically (frame height = image width). As the released loader: paths relative to a data
    root (`root`; default the list file's folder, the published lists sit apart from their frames), frames
    from the first, shorter clips padded with the last frame, every frame resized to the training size."""

    def __init__(self, list_file: str | os.PathLike, frames: int, size: int, root: str | os.PathLike | None = None,
                 seed: int = 0):
        # the released loader always took the first frames: no random crop
        super().__init__(frames, size, seed, random_crop=False)
        list_file = Path(list_file)
        self.root = Path(root) if root is not None else list_file.parent
        self.items = []
        for number, line in enumerate(read_text_lines(list_file, "VideoGAN list"), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) > 2 or (len(parts) == 2 and not parts[1].lstrip("-").isdigit()):
                raise ValueError(f"{list_file}:{number}: expected 'path.jpg [label]', got {line!r}")
            self.items.append((parts[0], int(parts[1]) if len(parts) == 2 else -1))
        if not self.items:
            raise ValueError(f"{list_file}: empty list")

    def __len__(self) -> int:
        return len(self.items)

    def name(self, index: int) -> str:
        return str(self.root / self.items[index][0])

    def load(self, index, rng):
        with open_image(self.name(index), self.name(index)) as image:
            # the JPEG decoder scales by 1/2, 1/4 or 1/8 in the DCT, to no less than the training size: the
            # stored 128 px strips decode straight to 64 or 32 px, 5x faster than decoding whole and resizing
            image.draft("RGB", (self.size, image.height * self.size // max(image.width, 1)))
            strip = np.array(image.convert("RGB"))  # (t*w) w 3, writable: torch shares its memory
        width = strip.shape[1]
        count = strip.shape[0] // width
        if count < 1:
            raise ValueError(f"image {strip.shape[1]}x{strip.shape[0]} is shorter than one square frame")
        count = min(count, self.frames)  # frames from the first, as the released loader
        return strip[:count * width].reshape(count, width, width, 3), self.items[index][1]


def decoding_side(size: int) -> int:
    """Short side videos are decoded at for clips of `size`: a little above it, so that `adapt_clip`
    does the final antialiased resize."""
    return max(2 * size, 64)


class DecodedVideos:
    """Whole videos decoded once and kept in memory, the least recently used dropped beyond `budget`
    bytes: for a small labelled set read again and again (fine-tuning crops, and the test videos of
    every run of a sweep), where decoding each crop from the file would dominate the time."""

    def __init__(self, budget: int = 2 << 30):
        self.budget = budget
        self._videos: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._videos)

    def get(self, path: Path, fps: float | None, short_side: int) -> np.ndarray:
        """t h w 3 uint8: every frame of `path` at `fps` (None: its own rate), short side `short_side`."""
        key = (str(path), fps, short_side)
        if key in self._videos:
            self._videos.move_to_end(key)
            return self._videos[key]
        frames = list(iter_frames(path, fps=fps, short_side=short_side))
        if not frames:
            raise ValueError("no frames decoded")
        video = np.stack(frames)
        self._videos[key] = video
        self._bytes += video.nbytes
        while self._bytes > self.budget and len(self._videos) > 1:
            self._bytes -= self._videos.popitem(last=False)[1].nbytes
        return video


class VideoFiles(ClipDataset):
    """Video files (or frame folders) decoded on the fly at `fps` (None: their own rate), no
    stabilization; a random temporal crop per item (centre crop if `random_crop` is False). With
    `decoded`, each file is decoded whole once and crops are cut from memory."""

    def __init__(self, items: list[tuple[Path, int]], frames: int, size: int, seed: int = 0,
                 random_crop: bool = True, fps: float | None = None, decoded: DecodedVideos | None = None):
        super().__init__(frames, size, seed, random_crop)
        if not items:
            raise ValueError("no videos to read")
        self.items, self.fps, self.decoded = items, fps, decoded

    def __len__(self) -> int:
        return len(self.items)

    def name(self, index: int) -> str:
        return str(self.items[index][0])

    def load(self, index, rng):
        path, label = self.items[index]
        fps = self.fps or probe(path).fps
        available = count_frames(path, fps)
        spare = max(0, available - self.frames)
        first = int(rng.integers(spare + 1)) if rng is not None else spare // 2
        if self.decoded is not None:
            whole = self.decoded.get(path, self.fps, decoding_side(self.size))
            first = min(first, max(len(whole) - self.frames, 0))  # the metadata's length can be an estimate
            frames = list(whole[first:first + self.frames])
        else:
            frames = []
            for frame in iter_frames(path, fps=self.fps, short_side=decoding_side(self.size), start=first / fps):
                frames.append(frame)
                if len(frames) == self.frames:
                    break
        if len(frames) < 2:
            raise ValueError(f"only {len(frames)} frame(s) decoded")
        return np.stack(frames), label


def list_videos(root: Path, unreadable: list[tuple[Path, str]] | None = None) -> list[tuple[Path, int]]:
    """Video files and frame folders under `root`, recursively, in a stable order, unlabelled. Links to
    folders are followed, each real folder listed once (a link to an ancestor would loop). Folders that
    cannot be listed are appended to `unreadable` as (folder, reason) if it is given, else skipped."""
    found, seen = [], set()

    def report(err: OSError) -> None:
        if unreadable is not None:
            unreadable.append((Path(err.filename), err.strerror or str(err)))

    for dirpath, dirnames, filenames in os.walk(root, onerror=report, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames.clear()
            continue
        seen.add(real)
        dirnames.sort()
        if is_frame_folder(dirpath):
            found.append((Path(dirpath), -1))
            continue
        found += [(Path(dirpath) / f, -1) for f in sorted(filenames) if Path(f).suffix.lower() in VIDEO_EXTENSIONS]
    return found


def detect_format(path: str | os.PathLike) -> str:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir() and (path / SHARD_DIR).is_dir():
        return "shards"
    if path.is_file():
        with open(path, errors="replace") as f:
            first = next((line for line in f if line.strip()), "")
        if first.split() and first.split()[0].lower().endswith((".jpg", ".jpeg")):
            return "videogan"
        raise ValueError(f"{path}: not a VideoGAN list file (expected 'path.jpg [label]' lines)")
    return "videos"


def open_dataset(path: str | os.PathLike, data_format: str = "auto", frames: int = 32, size: int = 64,
                 seed: int = 0, root: str | os.PathLike | None = None) -> ClipDataset:
    """The dataset at `path` in `data_format` (one of FORMATS), adapted to `frames` x `size` x `size`;
    `root` is the folder a VideoGAN list's paths are relative to (default: the list file's folder)."""
    if data_format not in FORMATS:
        raise ValueError(f"unknown data format {data_format!r}; choose from {FORMATS}")
    if is_url(path):
        if data_format not in ("auto", "shards") or root is not None:
            raise ValueError(f"--data {path}: a URL must name prepared shards (--data-format auto or shards, "
                             f"no --data-root)")
        return StreamedShards(str(path), frames, size, seed)
    fmt = detect_format(path) if data_format == "auto" else data_format
    if root is not None and fmt != "videogan":
        raise ValueError(f"{path}: --data-root applies to VideoGAN list files only, not to {fmt}")
    if root is not None and not Path(root).is_dir():
        raise FileNotFoundError(f"{root}: --data-root is not a folder")
    if fmt == "shards":
        return PreparedShards(path, frames, size, seed)
    if fmt == "videogan":
        return VideoGANList(path, frames, size, root=root, seed=seed)
    items = list_videos(Path(path))
    if not items:
        raise ValueError(f"{path}: no video files ({', '.join(VIDEO_EXTENSIONS)}) or frame folders")
    return VideoFiles(items, frames, size, seed)

