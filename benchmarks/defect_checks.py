"""What `prepare`'s frozen and damaged frame checks (videogan/data/defects.py) cut from clean real footage,
how close clean footage comes to a freeze, and what the checks cost next to decoding.

    PYTHONPATH=src python benchmarks/defect_checks.py [VIDEO_OR_FOLDER ...] [--repeats 3] [--side 128]

Default inputs: ../shared/data/weizmann-4 (72 tripod videos) and .cache/footage/bikes.mp4. Frames are
decoded as `prepare` decodes them at its default --size 64 (short side at most 128). Times are the best of
--repeats rounds, decode alone and decode + checks measured alternately, so a loaded machine slows both.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import av
import numpy as np

from videogan.data.decode import VIDEO_EXTENSIONS, timed_frames_file
from videogan.data.defects import FREEZE_FRAMES, FREEZE_LEVEL, Cuts, FreezeLimits, difference, screen

ROOT = Path(__file__).parents[1]
DEFAULT = [ROOT.parent / "shared" / "data" / "weizmann-4", ROOT / ".cache" / "footage" / "bikes.mp4"]
LEVELS = (0.05, 0.1, 0.25, 0.5, 1.0)


def videos(paths: list[Path]) -> list[Path]:
    found = []
    for path in paths:
        found += sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS) if path.is_dir() else [path]
    return found


def longest_runs(frames: list[np.ndarray]) -> dict[float, int]:
    """Per level: the most consecutive frames each within `level` of the one before."""
    steps = [difference(a, b) for a, b in zip(frames, frames[1:])]
    runs = {}
    for level in LEVELS:
        best = current = 1
        for step in steps:
            current = current + 1 if step <= level else 1
            best = max(best, current)
        runs[level] = best
    return runs


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def decode_threads(path: Path, thread_type: str) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = thread_type
        return sum(1 for _ in container.decode(stream))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--side", type=int, default=128)
    args = parser.parse_args()
    for group in args.paths:
        files = videos([group])
        total, cuts, runs = 0, Cuts(), {level: 0 for level in LEVELS}
        for path in files:
            decoded = list(timed_frames_file(path, args.side, 0.0))
            total += len(decoded)
            list(screen(iter(decoded), FreezeLimits(), cuts))
            for level, run in longest_runs([frame for _, frame, _ in decoded if frame is not None]).items():
                runs[level] = max(runs[level], run)

        def decode_only():
            for path in files:
                for _ in timed_frames_file(path, args.side, 0.0):
                    pass

        def decode_and_check():
            for path in files:
                for _ in screen(timed_frames_file(path, args.side, 0.0), FreezeLimits(), Cuts()):
                    pass

        plain = checked = float("inf")
        for _ in range(args.repeats):  # alternate, so load from other processes hits both alike
            plain = min(plain, best_time(decode_only, 1))
            checked = min(checked, best_time(decode_and_check, 1))
        print(f"{group.name}: {len(files)} videos, {total} frames; cut with --freeze-frames {FREEZE_FRAMES} "
              f"--freeze-level {FREEZE_LEVEL}: {cuts.describe() or 'nothing'}")
        print("  longest run of frames each within LEVEL of the previous: "
              + ", ".join(f"{level:g}: {run}" for level, run in runs.items()))
        print(f"  decode {plain:.2f}s, decode + checks {checked:.2f}s: checks cost "
              f"{100 * (checked - plain) / plain:+.1f}% ({1e3 * (checked - plain) / total:.3f} ms/frame)")
        if len(files) == 1:
            auto = min(best_time(lambda: decode_threads(files[0], "AUTO"), 1) for _ in range(args.repeats))
            sliced = min(best_time(lambda: decode_threads(files[0], "SLICE"), 1) for _ in range(args.repeats))
            print(f"  full-size decode, frame threads (AUTO) {auto:.2f}s, slice threads {sliced:.2f}s")


if __name__ == "__main__":
    main()
