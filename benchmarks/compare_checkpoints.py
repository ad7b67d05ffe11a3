"""`evaluate`'s metrics for several checkpoints (runs, variants, iterations) side by side: one JSON, one table.

Each argument is a checkpoint file or a run folder; `--every` takes every checkpoint of a run folder
instead of its latest. `--both` scores the trained G and the average of its weights (runs with
--ema-half-life: the average does not change training, so one run gives both at every checkpoint).

    PYTHONPATH=src python benchmarks/compare_checkpoints.py runs/ema1 --every --both --n 256 \\
        --out docs/results/ema-vs-trained.json
    PYTHONPATH=src python benchmarks/compare_checkpoints.py runs/a runs/b --data prepared/test --n 128 \\
        --metrics mask_motion,mask_location,flicker,motion_energy --out variants.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from videogan.checkpoint import list_checkpoints
from videogan.eval.evaluate import evaluate

BUILTIN = ("builtin_score", "flicker", "mask_motion", "motion_energy", "colour")
# per metric: the numbers of the table (every number is in the JSON)
SHOWN = {"builtin_score": ("builtin_shape_score", "builtin_motion_score", "builtin_named_fraction"),
         "fvd": ("fvd",), "flicker": ("flicker",), "mask_motion": ("mask_on_moving", "mask_on_static"),
         "mask_location": ("mask_motion_correlation",), "motion_energy": ("motion_energy", "motion_energy_w1"),
         "colour": ("colour_w1",)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="checkpoint files or run folders")
    parser.add_argument("--every", action="store_true", help="every checkpoint of each run folder")
    parser.add_argument("--both", action="store_true", help="the trained G and the average of its weights")
    parser.add_argument("--data", help="real videos (default: each run's own, held out for the built-in set)")
    parser.add_argument("--metrics", default=",".join(BUILTIN))
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    metrics = tuple(args.metrics.split(","))
    shown = [key for name in metrics for key in SHOWN.get(name, ())]
    paths = [p for c in args.checkpoints for p in (list_checkpoints(c) if args.every else [c])]
    rows = []
    for path in paths:
        for raw in ((True, False) if args.both else (False,)):
            result = evaluate(path, data=args.data, n=args.n, metrics=metrics, device="cpu", raw=raw)
            rows.append({"checkpoint": str(path), "iteration": result["iteration"],
                         "generator": result["generator_weights"], **result})
            print(" | ".join([str(path), str(result["iteration"]), result["generator_weights"]]
                             + [f"{result[k]:.3f}" if k in result else "-" for k in shown]), flush=True)
    Path(args.out).write_text(json.dumps({"checkpoints": args.checkpoints, "data": args.data, "n": args.n,
                                          "metrics": metrics, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
