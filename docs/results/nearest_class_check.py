"""Can a clip's action be read from its nearest real clip in I3D space (what `class_coverage` does to generated
videos)? Labels each held-out real clip by its nearest training clip and compares with its true action.

    python docs/results/nearest_class_check.py prepared/train-f12 prepared/test-f12 --n 134 \\
        --out docs/results/nearest-class-check.json
"""
from __future__ import annotations

import argparse

from videogan.eval.metrics import EvalContext, VideoSet, get_metric
from videogan.eval.sources import open_source
from videogan.eval.weights import load_i3d
from videogan.files import write_result_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reference", help="labelled real clips (a prepared dataset of class folders)")
    parser.add_argument("held_out", help="other labelled real clips")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    reference, held_out = (open_source(path, 16, args.n, seed, 32) for path, seed in ((args.reference, 1), (args.held_out, 0)))
    truth = held_out.labels()
    # the held-out clips stand where generated videos stand in `evaluate`: their shares by nearest reference clip
    coverage = get_metric("class_coverage")(VideoSet(list(held_out)), VideoSet(list(reference), labels=reference.labels()),
                                            EvalContext(i3d=load_i3d("cpu")))
    true_shares = {c: truth.count(c) / len(truth) for c in sorted(set(truth))}
    result = {"reference": args.reference, "held_out": args.held_out, "n": args.n,
              "nearest_shares": {c: s["generated"] for c, s in coverage["class_shares"].items()},
              "true_shares": true_shares,
              "total_variation": 0.5 * sum(abs(coverage["class_shares"][c]["generated"] - true_shares.get(c, 0.0))
                                           for c in coverage["class_shares"])}
    print(write_result_json(args.out, result), end="")


if __name__ == "__main__":
    main()
