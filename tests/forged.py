"""Forged checkpoints for tests: a copy of a run whose newest checkpoint was changed and its sha256 made to
match again, as someone who edits a file on purpose would (the hash catches damage, not forgery)."""
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from videogan.checkpoint import HASH_KEY, list_checkpoints, with_hash


def forged_copy(run: Path, tmp_path: Path, change: Callable[[dict], None]) -> Path:
    """tmp_path/run: a copy of `run` whose newest checkpoint's state dict `change` edited in place."""
    copy = tmp_path / "run"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(run, copy)
    path = list_checkpoints(copy)[-1]
    state = torch.load(path, weights_only=True)
    state.pop(HASH_KEY)
    change(state)
    torch.save(with_hash(state), path)
    return copy
