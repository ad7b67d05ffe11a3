"""Seconds from starting `videogan` to its answer, for help and argument errors (median of --repeats).

    PYTHONPATH=src python benchmarks/cli_startup.py [--repeats 5]

The command list and a mistyped command import no command module (no torch); a command's own help or
argument error imports that command's module only. Run it beside a baseline tree in the same call
(PYTHONPATH=OTHER/src) to compare: on a loaded machine single timings are noise.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "videogan --help": ["--help"],
    "videogan bogus": ["bogus"],
    "videogan train --help": ["train", "--help"],
    "videogan train --iterations 0": ["train", "--iterations", "0", "--out", "/nonexistent-videogan-bench"],
    "videogan sample --help": ["sample", "--help"],
}


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "videogan.cli", *argv], capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-c", "pass"])  # warm the interpreter's files
    timings = {name: [] for name in CASES}
    for _ in range(args.repeats):  # interleaved: load changes hit every case alike
        for name, argv in CASES.items():
            timings[name].append(seconds(argv))
    for name, values in timings.items():
        print(f"{name:<34} {statistics.median(values):6.2f} s  (min {min(values):.2f}, max {max(values):.2f})")


if __name__ == "__main__":
    main()
