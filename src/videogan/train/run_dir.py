"""A run folder's checks at start and resume: writable before any work, no stale temporaries, no litter,
and the one-line notes a start prints.

`train`'s `resolve_run` calls these, so a run never trains for hours and then fails at its first save.
"""
from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager, nullcontext
from pathlib import Path

from ..files import check_writable, hold_folder, remove_stale_temporaries
from ..runtime import leave_group

LOCK_FILE = ".videogan.lock"

RUN_SUBFOLDERS = ("checkpoints", "samples")


def prepare_run_dir(run_dir: str | Path) -> None:
    """Before any work: the run folder and its subfolders accept new files; stale temporaries are gone."""
    run_dir = Path(run_dir)
    for folder in (run_dir, *(run_dir / name for name in RUN_SUBFOLDERS)):
        check_writable(folder, what="run folder")
        remove_stale_temporaries(folder)


def edited_settings(run_dir: str | Path, resumed: dict, flags: tuple[str, ...] = ()) -> list[str]:
    """The settings in which RUN_DIR/config.json, as a resume finds it, differs from the config the resume
    runs (`resumed`, as `RunConfig.to_dict` gives it): hand edits of the file, which a resume does not
    apply. `flags`: settings a resume takes from its command line, not compared. Sections or keys the file
    lacks (written by an older version) and unreadable files count as none."""
    on_disk = _saved_config(run_dir)
    return [f"{name} (file: {on_disk[section][name]!r}, run: {value!r})"
            for section, values in resumed.items() if isinstance(on_disk.get(section), dict)
            for name, value in values.items()
            if name in on_disk[section] and name not in flags and on_disk[section][name] != value]


def changed_machine(run_dir: str | Path, machine: dict) -> list[str]:
    """What differs between the machine record of RUN_DIR/config.json (the run so far) and `machine` (this
    resume's): another thread count or instruction set sums floats in another order, so the resume goes on
    from the checkpoint but no longer bit for bit. A file without the record counts as no difference."""
    saved = _saved_config(run_dir).get("machine")
    if not isinstance(saved, dict):
        return []
    return [f"{name} {saved[name]!r} -> {value!r}" for name, value in machine.items()
            if name in saved and saved[name] != value]


def _saved_config(run_dir: str | Path) -> dict:
    """RUN_DIR/config.json as a dict; {} when it is missing, unreadable or not an object."""
    try:
        on_disk = json.loads((Path(run_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return on_disk if isinstance(on_disk, dict) else {}


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
        if created and run_dir.is_dir() and all(p.name in ("config.json", LOCK_FILE)
                                                or (p.is_dir() and not any(p.iterdir())) for p in run_dir.iterdir()):
            shutil.rmtree(run_dir)
        raise


@contextmanager
def writing_run(args):
    """The command's hold on the run folder of `--out` or `--resume` for the whole start and run: one writer
    (rank 0 holds the lock for its torchrun job: the other ranks write nothing), and a folder this start
    created is removed again (by rank 0) if the start fails. A torchrun job's process group is left at the end,
    however the command ends."""
    if args.resume is None and args.out is None:
        raise ValueError("give --out RUN_DIR for a new run, or --resume RUN_DIR to continue one")
    run_dir = Path(args.resume if args.resume is not None else args.out)
    if args.resume is not None and not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: nothing to resume (no such run folder)")
    main_rank = os.environ.get("RANK", "0") == "0"
    try:
        with (removed_if_start_fails(run_dir) if main_rank else nullcontext(),
              hold_folder(run_dir, "run folder", LOCK_FILE) if main_rank else nullcontext()):
            yield run_dir
    finally:
        leave_group()  # a torchrun job's group, joined to choose the checkpoint, even when the start fails

