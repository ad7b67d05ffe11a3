"""Run logging: one line per tick on the console, one JSON record per tick in stats.jsonl.

Only rank 0 writes; every other rank's logger is silent, so the same code runs under torchrun.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from ..files import write_atomic
from .tensorboard import TensorBoardLog, tensorboard_available


MAX_ITERATION = 2 ** 53  # any count a float holds exactly: a larger one is a hand-edit, not a run


def read_stats(path: Path) -> tuple[list[dict], list[str]]:
    """stats.jsonl's records, each a JSON object with a whole `iteration` >= 0, and one note "PATH:LINE: ..."
    per line that is not one (torn by a kill, a full disk or a power loss, or edited by hand): those lines
    are left out. Every reader of the file (a resume, the report) goes through here."""
    if not path.exists():
        return [], []
    records, problems = [], []
    # split at "\n" only: splitlines() also breaks at \v, \f, \x1c-\x1e, \x85, \u2028 and \u2029, which a torn or
    # garbled line can hold, and its numbers would then not be the file's lines
    for number, line in enumerate(path.read_text(errors="replace").split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: brackets nested thousands deep
            problems.append(f"{path}:{number}: not a whole record (not JSON: a torn write?)")
            continue
        iteration = record.get("iteration") if isinstance(record, dict) else None
        if not isinstance(record, dict):
            problems.append(f"{path}:{number}: not a whole record (a JSON {type(record).__name__}, not an object)")
        elif type(iteration) is not int or not 0 <= iteration <= MAX_ITERATION:  # bool is an int: not one
            problems.append(f"{path}:{number}: not a whole record (no whole iteration from 0 to 2^53)")
        else:
            records.append(record)
    return records, problems


class RunLog:
    def __init__(self, run_dir: Path, enabled: bool = True):
        self.enabled = enabled
        self.stats_path = Path(run_dir) / "stats.jsonl"
        self.start = time.time()
        self.earlier_seconds = 0.0  # the time of the runs this one resumes: `time` counts across resumes
        self.run_dir, self._tensorboard, self._purge_step = Path(run_dir), None, None

    def line(self, text: str) -> None:
        if self.enabled:
            from tqdm import tqdm

            tqdm.write(text, file=sys.stderr)

    def record(self, iteration: int, values: dict) -> None:
        """Append a stats.jsonl record and print the tick's line."""
        if not self.enabled:
            return
        clean = {k: (v.item() if isinstance(v, torch.Tensor) else v) for k, v in values.items()}
        record = {"iteration": iteration, "time": round(self.earlier_seconds + time.time() - self.start, 3), **clean}
        with open(self.stats_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.line(f"it {iteration:>7d}  " + "  ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in clean.items()))
        if self.tensorboard:
            self.tensorboard.scalars(iteration, clean)

    def continue_time(self) -> None:
        """Count `time` on from the last record of stats.jsonl: a log opened after the loop's has finished
        (the baseline's mixture fit) would otherwise start again at zero."""
        records = read_stats(self.stats_path)[0] if self.enabled else []
        self.earlier_seconds = float(records[-1].get("time", 0.0)) if records else 0.0

    def truncate_after(self, iteration: int) -> None:
        """On resume: drop records past the checkpoint, which the resumed run will write again, and go on
        counting `time` from the last record kept."""
        self._purge_step = iteration + 1  # TensorBoard drops its events past the checkpoint too
        if not self.enabled or not self.stats_path.exists():
            return
        records, problems = read_stats(self.stats_path)
        for problem in problems:
            self.line(f"warning: {problem}: dropped")
        kept = [record for record in records if record["iteration"] <= iteration]
        self.earlier_seconds = float(kept[-1].get("time", 0.0)) if kept else 0.0
        write_atomic(self.stats_path, "".join(json.dumps(record) + "\n" for record in kept))  # a kill keeps the log

    @property
    def tensorboard(self) -> TensorBoardLog | None:
        """RUN/tb's writer, opened on first use (after a resume has set where to purge); None on ranks > 0
        and without the tensorboard package."""
        if self._tensorboard is None and self.enabled and tensorboard_available():
            self._tensorboard = TensorBoardLog(self.run_dir, self._purge_step)
        return self._tensorboard

    def samples(self, iteration: int, parts: dict) -> None:
        """The fixed-z samples' streams (see `generate`) into TensorBoard; the GIFs are written by the loop."""
        if self.tensorboard:
            self.tensorboard.samples(iteration, parts)
