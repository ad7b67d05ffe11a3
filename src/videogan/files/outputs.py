"""Output locations checked before any work starts, so that a long run never fails at its first write and
never replaces a file it should not.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .atomic import OutputError

# Files that hold a run's, a dataset's or a study's own state: an output named like one of them, where one
# exists, would replace it with something else.
OWN_FILES = frozenset({"config.json", "stats.jsonl", "manifest.jsonl", "prepare.json", "skipped.jsonl",
                       "study.json", "answers.jsonl", "tally.json", "report.html", "sessions.jsonl"})
# What a file holds, from its first bytes: formats a command's text output must never replace.
_MAGIC = ((0, b"PK\x03\x04", "a checkpoint (zip archive)"), (257, b"ustar", "a shard (tar archive)"),
          (0, b"\x93NUMPY", "a clip (.npy)"), (4, b"ftyp", "a video (MP4/MOV)"), (0, b"RIFF", "a video (AVI)"),
          (0, b"\x1aE\xdf\xa3", "a video (Matroska/WebM)"), (0, b"GIF8", "a GIF"),
          (0, b"\x89PNG", "a PNG image"), (0, b"\xff\xd8\xff", "a JPEG image"))


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_writable(path: str | os.PathLike, is_file: bool = False, what: str = "--out") -> Path:
    """`path` (a folder, or with `is_file` a file) can be created or written: not at or below a file, in a
    folder that accepts new files. A probe file is written and removed: permission bits alone lie for root
    and for read-only mounts."""
    path = Path(path)
    if path.exists() and path.is_dir() == is_file:
        raise OutputError(f"{path}: {what} is {'a folder, not a file' if is_file else 'a file, not a folder'}")
    if is_file and path.exists() and not path.is_file():  # a rename would replace the node itself
        raise OutputError(f"{path}: {what} is a device, pipe or socket, not a file: choose a file")
    folder = path.parent if is_file else path
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise OutputError(f"{path}: {what} lies below {existing}, which is a file")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".videogan-write-check-"):
            pass
    except OSError as err:
        raise OutputError(f"{path}: {what} cannot be written: {existing} does not accept new files "
                          f"({err.strerror or err})") from None
    return path


def _content_kind(path: Path) -> str | None:
    """What an existing file holds, when it is one of the project's binary formats."""
    try:
        with open(path, "rb") as f:
            head = f.read(264)
    except OSError:
        return None
    return next((kind for offset, magic, kind in _MAGIC if head[offset:offset + len(magic)] == magic), None)


def check_not_an_input(path: str | os.PathLike, inputs=(), what: str = "--out") -> None:
    """An output file may replace only an earlier output of its own kind: not one of the command's
    `inputs`, not a run's, dataset's or study's own file, not a file of another format (a checkpoint, a
    shard, a video) whatever its name."""
    path = Path(path)
    if not path.is_file():
        return
    for given in inputs:
        try:
            same = os.path.samefile(path, given)
        except OSError:
            continue
        if same:
            raise OutputError(f"{path}: {what} is a file this command reads; choose another file")
    if path.name in OWN_FILES:
        raise OutputError(f"{path}: {what} would replace the {path.name} of {path.parent}; choose another file")
    if kind := _content_kind(path):
        raise OutputError(f"{path}: {what} would replace {kind} with this command's output; choose another file")
