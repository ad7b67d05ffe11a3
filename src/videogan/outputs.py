"""Output locations checked before any work starts, so that a long run never fails at its first write.

Light on purpose (no torch): the command line checks every command's `--out` before it imports the command.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputError(ValueError):
    """An output location that cannot be written: reported as one line by the CLI."""


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


def atomic_write(path: Path, write) -> None:
    """write(tmp_path) then rename: readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # same folder: os.replace stays one rename
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
