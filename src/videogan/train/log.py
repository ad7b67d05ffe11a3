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

    def _records(self) -> list[dict]:
        """The records of stats.jsonl; a line that is not a record (torn by a full disk or a power loss) is
        dropped with a warning."""
        records = []
        for number, line in enumerate(self.stats_path.read_text(errors="replace").splitlines(), 1):
            try:
                record = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                record = {}
            if record is None:
                continue
            if not isinstance(record, dict) or not isinstance(record.get("iteration"), int):
                self.line(f"warning: {self.stats_path}: line {number} is not a whole record (torn write?): dropped")
                continue
            records.append(record)
        return records

    def truncate_after(self, iteration: int) -> None:
        """On resume: drop records past the checkpoint, which the resumed run will write again, and go on
        counting `time` from the last record kept."""
        self._purge_step = iteration + 1  # TensorBoard drops its events past the checkpoint too
        if not self.enabled or not self.stats_path.exists():
            return
        kept = [record for record in self._records() if record["iteration"] <= iteration]
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
