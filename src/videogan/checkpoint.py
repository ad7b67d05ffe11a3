"""Checkpoints as plain data: state dicts, the resolved config, counters and RNG states.

They load with `torch.load(path, weights_only=True)`: no module is pickled, and loading never runs
code from the file. Writes are atomic (`files.write_atomic`), so a kill at any moment, or a full disk,
leaves the previous checkpoints intact. A sha256 of the whole content is stored inside and checked on load,
so flipped bytes in tensor data are an error, not silently different weights (files from before the hash
load as they are).
"""
from __future__ import annotations

import hashlib
import os
import random
import re
import sys
from pathlib import Path

import numpy as np
import torch

from .config import RunConfig
from .files import write_torch

FORMAT_VERSION = 1
HASH_KEY = "content_sha256"
_NAME = re.compile(r"checkpoint-(\d+)\.pt$")
DAMAGED_SUFFIX = ".damaged"


def _feed(digest, obj) -> None:
    """Add a nest of dicts, lists, tensors and plain values to `digest`, structure included."""
    if isinstance(obj, torch.Tensor):
        flat = obj.detach().cpu().contiguous().reshape(-1)
        digest.update(f"tensor {flat.dtype} {tuple(obj.shape)}:".encode())
        digest.update(memoryview(flat.view(torch.uint8).numpy()))
    elif isinstance(obj, dict):
        digest.update(f"dict {len(obj)}:".encode())
        for key in sorted(obj, key=repr):
            digest.update(f"{key!r}=".encode())
            _feed(digest, obj[key])
    elif isinstance(obj, (list, tuple)):
        digest.update(f"{type(obj).__name__} {len(obj)}:".encode())
        for item in obj:
            _feed(digest, item)
    else:
        digest.update(f"{type(obj).__name__} {obj!r};".encode())


def content_hash(state: dict) -> str:
    """sha256 of everything in a state dict except the hash itself: tensors by their bytes, dtype and shape."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in state.items() if k != HASH_KEY})
    return digest.hexdigest()


def with_hash(state: dict) -> dict:
    return {**state, HASH_KEY: content_hash(state)}


def loaded_hash(state: dict) -> str:
    """The content hash of a loaded checkpoint (`load_checkpoint` has verified the stored one; a file from
    before the hash gets it computed)."""
    return state.get(HASH_KEY) or content_hash({k: v for k, v in state.items() if k != "path"})


def verify_hash(state: dict, path: str | Path) -> None:
    """A ValueError naming the file when its content differs from the hash stored in it."""
    stored = state.get(HASH_KEY) if isinstance(state, dict) else None
    if stored is not None and stored != content_hash(state):
        raise ValueError(f"{path}: damaged: its content does not match the sha256 stored in it")


def checkpoint_path(run_dir: str | Path, iteration: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"checkpoint-{iteration:07d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Periodic checkpoints of a run, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    found = [(int(m.group(1)), p) for p in folder.glob("checkpoint-*.pt") if (m := _NAME.search(p.name))]
    return [p for _, p in sorted(found)]


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run folder (its latest checkpoint)."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise FileNotFoundError(f"{path}: no checkpoints in {path / 'checkpoints'}")
        return found[-1]
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint file or run folder")
    return path


def save_checkpoint(path: str | Path, state: dict) -> Path:
    return write_torch(path, with_hash({"format_version": FORMAT_VERSION, **state}))


def _counter_problem(state: dict) -> str | None:
    """What is wrong with the fields a resume trusts before it changes the run folder (the counters decide
    which log records it drops), or None."""
    def whole(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not whole(state["format_version"]):
        return f"format_version {state['format_version']!r} is not a whole number"
    if not isinstance(state["config"], dict):
        return f"config is a {type(state['config']).__name__}, not a mapping"
    for key, least in (("iteration", 0), ("world_size", 1)):
        if key in state and not (whole(state[key]) and state[key] >= least):
            return f"{key} {state[key]!r} is not a whole number >= {least}"
    return None


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load safely; a missing, truncated, damaged or foreign file is a clear error naming it. For a run
    folder: its newest checkpoint that loads (see `load_latest`)."""
    if Path(path).is_dir():
        return load_latest(path, map_location)
    path = resolve_checkpoint(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for a damaged zip/pickle
        raise ValueError(f"{path}: not a readable videogan checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict) or "config" not in state or "format_version" not in state:
        raise ValueError(f"{path}: not a videogan checkpoint (no config / format_version)")
    if problem := _counter_problem(state):
        raise ValueError(f"{path}: not a valid videogan checkpoint: {problem}")
    if state["format_version"] > FORMAT_VERSION:
        raise ValueError(f"{path}: written by a newer videogan (format {state['format_version']})")
    verify_hash(state, path)
    state["path"] = str(path)
    return state


def load_latest(run_dir: str | Path, map_location="cpu", set_aside: bool = False) -> dict:
    """The newest checkpoint of a run that loads. Newer ones that fail are reported on stderr; with
    `set_aside` (a resume) they are renamed to NAME.damaged, kept for inspection but neither listed nor
    overwritten by the resumed run."""
    found = list_checkpoints(run_dir)
    if not found:
        raise FileNotFoundError(f"{run_dir}: no checkpoints in {Path(run_dir) / 'checkpoints'}")
    failed = []
    for path in reversed(found):
        try:
            state = load_checkpoint(path, map_location)
        except ValueError as err:
            failed.append((path, err))
            continue
        for bad, err in failed:
            kept = bad.with_name(bad.name + DAMAGED_SUFFIX) if set_aside else None
            if kept:  # under torchrun rank 0 alone (train/agreement.py)
                os.replace(bad, kept)
            print(f"videogan: warning: {err}" + (f" (moved to {kept.name})" if kept else ""), file=sys.stderr)
        if failed:
            print(f"videogan: using {path} instead", file=sys.stderr)
        return state
    raise ValueError(f"{run_dir}: none of its {len(found)} checkpoints loads; the newest: {failed[0][1]}")


def config_of(state: dict) -> RunConfig:
    return RunConfig.from_dict(state["config"])


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the newest `keep` periodic checkpoints (keep <= 0 keeps every one)."""
    if keep > 0:
        for old in list_checkpoints(run_dir)[:-keep]:
            old.unlink(missing_ok=True)


def capture_rng() -> dict:
    """Global RNG states as tensors and lists (no numpy objects: weights_only must load them)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
