"""What the stabilizer's working resolution costs: residual background motion and speed per `work_side`.

    OMP_NUM_THREADS=1 PYTHONPATH=src:tests python benchmarks/stabilize_accuracy.py [--side 256] [--frames 16]

The scene is the tests' (`tests/videos.py` camera_shake_scene): a textured static world seen through
random homographies with a disc moving on it, so the true camera motion is known. The residual is the
mean distance in frame pixels between where a stabilized frame and the first frame show the same world
point (0 is perfect); "none" is the unstabilized video. Frames are `--side` pixels square, larger than
every working resolution, so each row is a real reduction; the last column scales the residual to a 64 px
training clip. Frames/s is the stabilizer alone (features, matching, warping) on one thread.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from videos import background_residual, camera_shake_scene  # noqa: E402

from videogan.data.stabilize import Stabilizer  # noqa: E402

CLIP_SIDE = 64  # the paper's training frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=256, help="frame size of the test scene")
    parser.add_argument("--frames", type=int, default=16, help="frames per scene")
    parser.add_argument("--scenes", type=int, default=3, help="scenes (seeds) averaged")
    parser.add_argument("--work-sides", type=int, nargs="+", default=[64, 96, 128, 160])
    args = parser.parse_args()
    cv2.setNumThreads(1)
    scenes = [camera_shake_scene(args.frames, args.side, seed=seed) for seed in range(args.scenes)]
    print(f"{args.scenes} scenes of {args.frames} frames at {args.side}x{args.side}\n")
    print("| working side | residual (frame px) | residual (64 px clip px) | segment breaks | frames/s |")
    print("|---|---|---|---|---|")
    for work_side in [None, *args.work_sides]:
        residuals, breaks, elapsed = [], 0, 0.0
        for video, views in scenes:
            if work_side is None:
                transforms = [np.eye(3)] * len(video)
            else:
                start = time.perf_counter()
                out = list(Stabilizer(work_side=work_side).run(video))
                elapsed += time.perf_counter() - start
                transforms = [f.transform for f in out]
                breaks += sum(bool(f.break_reason) for f in out)
            residuals.append(background_residual(views, transforms, args.side))
        residual = float(np.mean(residuals))
        speed = f"{args.scenes * args.frames / elapsed:.0f}" if work_side else "-"
        print(f"| {work_side or 'none'} | {residual:.2f} | {residual * CLIP_SIDE / args.side:.3f} | "
              f"{breaks if work_side else '-'} | {speed} |")


if __name__ == "__main__":
    main()
