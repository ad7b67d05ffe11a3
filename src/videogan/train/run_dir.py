"""A run folder's checks at start and resume: writable before any work, no stale temporaries, no litter,
and the one-line notes a start prints.

`train`'s `resolve_run` calls these, so a run never trains for hours and then fails at its first save.
"""
from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from ..outputs import check_writable

RUN_SUBFOLDERS = ("checkpoints", "samples")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(run_dir: str | Path) -> int:
    """Delete `.checkpoint-N.pt.tmpPID` files left by killed writers (not by a live process); returns how
    many."""
    removed, freed = 0, 0
    for tmp in (Path(run_dir) / "checkpoints").glob(".checkpoint-*.pt.tmp*"):
        pid = tmp.name.rpartition(".tmp")[2]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        try:
            size = tmp.stat().st_size
            tmp.unlink()
        except FileNotFoundError:  # removed by another rank of a torchrun job
            continue
        freed, removed = freed + size, removed + 1
    if removed:
        print(f"videogan: removed {removed} unfinished checkpoint write(s) ({freed / 1e6:.1f} MB) in "
              f"{Path(run_dir) / 'checkpoints'}", file=sys.stderr)
    return removed


def prepare_run_dir(run_dir: str | Path) -> None:
    """Before any work: the run folder and its subfolders accept new files; stale temporaries are gone."""
    run_dir = Path(run_dir)
    for folder in (run_dir, *(run_dir / name for name in RUN_SUBFOLDERS)):
        check_writable(folder, what="run folder")
    remove_stale_temporaries(run_dir)


def resume_hint(run_dir: str | Path, iteration: int, iterations: int) -> str | None:
    """How to train longer, when a resumed run has nothing left to do."""
    if iteration < iterations:
        return None
    return (f"{run_dir}: already trained for {iteration} iterations (--iterations {iterations}); to train longer, "
            f"resume with a larger total: --resume {run_dir} --iterations {2 * iteration}")


@contextmanager
def removed_if_start_fails(run_dir: str | Path):
    """A run folder this call creates is removed again when the start fails while it holds nothing but its
    config.json and empty folders (a bad --data, say), so that a retry with the same --out finds no litter;
    anything a started run wrote stays."""
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    try:
        yield
    except Exception:
        if created and run_dir.is_dir() and all(p.name == "config.json" or (p.is_dir() and not any(p.iterdir()))
                                                for p in run_dir.iterdir()):
            shutil.rmtree(run_dir)
        raise
