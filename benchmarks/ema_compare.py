"""The average of G's weights against the trained G at equal iterations, from one run's checkpoints.

The average does not change training, so one run with --ema-half-life gives both generators at every
checkpoint; each is scored by `evaluate`'s cheap metrics (no I3D) against held-out built-in videos.

    videogan train --preset cpu --iterations 1200 --ema-half-life 3000 --checkpoint-every 300 \\
        --sample-every 300 --keep-checkpoints 0 --out runs/ema1
    PYTHONPATH=src python benchmarks/ema_compare.py runs/ema1 --n 256 --out docs/results/ema-vs-trained.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from videogan.eval.evaluate import evaluate
from videogan.train.checkpoint import list_checkpoints

METRICS = ("builtin_score", "flicker", "mask_motion", "motion_energy", "colour")
SHOWN = ("builtin_shape_score", "builtin_motion_score", "builtin_named_fraction", "flicker", "mask_on_moving",
         "mask_on_static", "motion_energy_w1", "colour_w1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rows = []
    for path in list_checkpoints(args.run):
        for raw in (True, False):
            result = evaluate(path, n=args.n, metrics=METRICS, device="cpu", raw=raw)
            rows.append({"iteration": result["iteration"], "generator": result["generator_weights"],
                         **{k: result[k] for k in SHOWN}, "real": {k: result[k + "_real"] for k in
                         ("builtin_shape_score", "builtin_motion_score", "builtin_named_fraction", "flicker")}})
            print(" | ".join([str(rows[-1]["iteration"]), rows[-1]["generator"]]
                             + [f"{rows[-1][k]:.3f}" for k in SHOWN]), flush=True)
    Path(args.out).write_text(json.dumps({"run": args.run, "n": args.n, "metrics": METRICS, "rows": rows}, indent=2)
                              + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
