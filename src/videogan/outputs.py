"""Output locations checked before any work starts, so that a long run never fails at its first write.

Light on purpose (no torch): the command line checks every command's `--out` before it imports the command.
"""
from __future__ import annotations

import json
import math
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


def finite_json(result: dict) -> dict:
    """`result` with every NaN or infinite float replaced by None, and a `null_reasons` entry for each,
    keyed by its path (`fvd`, `batches[2].rate`): strict JSON parsers reject the bare `NaN` that
    `json.dumps` writes by default, and a reader should learn why a number is missing."""
    reasons = dict(result.get("null_reasons", {}))

    def clean(value, path: str):
        if isinstance(value, float) and not math.isfinite(value):
            reasons[path] = f"computed as {value} (not a number a JSON file can hold)"
            return None
        if isinstance(value, dict):
            return {key: clean(item, f"{path}.{key}" if path else str(key)) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(item, f"{path}[{index}]") for index, item in enumerate(value)]
        return value

    cleaned = clean({key: value for key, value in result.items() if key != "null_reasons"}, "")
    return {**cleaned, "null_reasons": reasons} if reasons else cleaned


def write_result_json(path: str | os.PathLike, result: dict) -> str:
    """Write a result JSON atomically (temporary file, then rename) as strict JSON: NaN and infinities become
    null with a reason (`finite_json`). Returns the text written."""
    path = Path(path)
    text = json.dumps(finite_json(result), indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text))
    return text
