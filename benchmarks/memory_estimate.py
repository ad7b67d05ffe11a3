"""The memory estimate that train, sample and describe check (models/memory.py) against the peak RSS of a
short training of each preset on the CPU.

    PYTHONPATH=src python benchmarks/memory_estimate.py [--presets tiny cpu demo] [--iterations 2]

Each training runs in its own process under /usr/bin/time (its maximum resident set size); the estimate
should lie within 2x of it, above rather than below.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from videogan.config import get_preset, replace
from videogan.models.memory import training_bytes

MIB = 2 ** 20


def peak_rss_bytes(argv: list[str]) -> int:
    result = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "videogan.cli", *argv],
                            capture_output=True, text=True, check=True)
    return int(result.stderr.strip().splitlines()[-1]) * 1024  # kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "cpu", "demo"])
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None, help="instead of each preset's")
    args = parser.parse_args()
    batch = ["--batch-size", str(args.batch_size)] if args.batch_size else []
    print(f"{'preset':<8} {'batch':>5} {'estimate MiB':>12} {'peak RSS MiB':>12} {'ratio':>6}")
    for preset in args.presets:
        with tempfile.TemporaryDirectory() as folder:
            measured = peak_rss_bytes(["train", "--preset", preset, "--iterations", str(args.iterations),
                                       "--device", "cpu", "--workers", "0", "--no-progress",
                                       "--out", str(Path(folder) / "run"), *batch])
        config = get_preset(preset)
        config = replace(config, train={"batch_size": args.batch_size}) if args.batch_size else config
        estimate = training_bytes(config)
        print(f"{preset:<8} {config.train.batch_size:>5} {estimate / MIB:>12,.0f} {measured / MIB:>12,.0f} "
              f"{estimate / measured:>6.2f}")


if __name__ == "__main__":
    main()
