"""How long a stop takes, and what the atomic checkpoint write costs.

    PYTHONPATH=src python benchmarks/stop_latency.py [--repeats 3]

1. Seconds from SIGTERM to `videogan train`'s whole process group (as `kill -- -PGID`, Slurm or Kubernetes
   send it) until the command has exited, with its checkpoint and report written: mid-run with 2 loader
   workers, and while a first batch of 50,000 clips is being built (about a minute's work).
2. The write of a checkpoint of the `tiny` and `paper` presets' networks: torch.save to a temporary path and
   a rename (the earlier way), against serialising in memory and `files.write_atomic` (fsync and rename).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from videogan.config import get_preset
from videogan.checkpoint import FORMAT_VERSION, save_checkpoint, with_hash
from videogan.train.gan import init_networks

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def stop_seconds(extra: list[str], after_first_records: bool) -> tuple[int, float]:
    run = Path(tempfile.mkdtemp()) / "run"
    cmd = [sys.executable, "-m", "videogan.cli", "train", "--preset", "tiny", "--device", "cpu", "--no-progress",
           "--log-every", "1", "--out", str(run), *extra]
    proc = subprocess.Popen(cmd, env=ENV, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    for line in proc.stderr:
        if line.startswith("global batch"):  # the loop starts
            break
    if after_first_records:
        while not ((run / "stats.jsonl").exists() and (run / "stats.jsonl").read_text().count("\n") >= 2):
            time.sleep(0.05)
    else:
        time.sleep(1)
    start = time.perf_counter()
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait()
    return proc.returncode, time.perf_counter() - start


def checkpoint_seconds(preset: str, folder: Path, repeats: int) -> tuple[float, float, float]:
    """(MB, median seconds before, median seconds now)."""
    cfg = get_preset(preset)
    generator, discriminator = init_networks(cfg.model, 0)
    state = {"config": cfg.to_dict(), "iteration": 1, "generator": generator.state_dict(),
             "discriminator": discriminator.state_dict()}

    def before(path: Path) -> None:
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        torch.save(with_hash({"format_version": FORMAT_VERSION, **state}), tmp)
        os.replace(tmp, path)

    times: dict[str, list[float]] = {"before": [], "now": []}
    for _ in range(repeats):
        for name, write in (("before", before), ("now", lambda path: save_checkpoint(path, state))):
            start = time.perf_counter()
            write(folder / f"{name}.pt")
            times[name].append(time.perf_counter() - start)
    median = {name: sorted(values)[len(values) // 2] for name, values in times.items()}
    return (folder / "now.pt").stat().st_size / 1e6, median["before"], median["now"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for label, extra, after_records in (
            ("mid-run, --workers 2", ["--workers", "2", "--iterations", "100000"], True),
            ("first batch of 50,000 clips, --workers 0", ["--workers", "0", "--batch-size", "50000"], False)):
        results = [stop_seconds(extra, after_records) for _ in range(args.repeats)]
        print(f"SIGTERM to the group, {label}: exit status {[rc for rc, _ in results]}, seconds "
              f"{[round(s, 2) for _, s in results]}")
    with tempfile.TemporaryDirectory() as folder:
        for preset in ("tiny", "paper"):
            mb, before, now = checkpoint_seconds(preset, Path(folder), max(args.repeats, 5))
            print(f"checkpoint of {preset}'s networks, {mb:.1f} MB: median {before:.3f} s before (torch.save + "
                  f"rename), {now:.3f} s now (in memory + fsync + rename)")


if __name__ == "__main__":
    main()
