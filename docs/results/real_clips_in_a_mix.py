"""How much of a generator's distance to the held-out people is its mix of actions? FVD against the held-out
clips of *real* training clips drawn in a given mix of actions: the training people's own mix (the real-vs-real
floor's construction), the held-out people's, the training mix with one action left out, and the mix a
generator draws (`evaluate --metrics class_coverage`'s `class_shares`, read from its JSON).

    python docs/results/real_clips_in_a_mix.py prepared/train-f12 prepared/test-f12 --n 134 \\
        --generated docs/results/footage-docs-seed0-classes.json --out docs/results/real-clips-in-a-mix-docs.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from videogan.eval.fvd import embed_videos, frechet_distance_from_stats, gaussian_stats
from videogan.eval.sources import count_videos, open_source
from videogan.eval.weights import load_i3d
from videogan.files import write_result_json

DRAWS = 10  # sets of n training clips per mix; their FVDs are averaged


def shares_of(labels: list[str], actions: list[str]) -> np.ndarray:
    return np.array([labels.count(a) for a in actions], dtype=float) / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("training", help="the training people's clips (a prepared dataset of class folders)")
    parser.add_argument("held_out", help="the held-out people's clips, drawn as `evaluate --seed 0` draws them")
    parser.add_argument("--n", type=int, required=True, help="clips per side, as in `evaluate --n`")
    parser.add_argument("--generated", nargs="*", default=[], help="`evaluate` JSONs with class_shares")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    i3d = load_i3d("cpu")
    training = open_source(args.training, 16, count_videos(args.training, 16, 32), 0, 32)
    held_out = open_source(args.held_out, 16, args.n, 0, 32)
    labels = np.array(training.labels())
    actions = sorted(set(labels))
    embeddings = embed_videos(training, i3d)  # every training clip once
    held_out_stats = gaussian_stats(embed_videos(held_out, i3d))

    def fvd_in_mix(shares: np.ndarray) -> dict:
        fvds = []
        for seed in range(DRAWS):
            rng = np.random.default_rng(seed)
            counts = rng.multinomial(args.n, shares / shares.sum())
            # with replacement only where a mix asks for more clips of an action than the training people have
            draw = np.concatenate([rng.choice(np.flatnonzero(labels == a), k, replace=k > (labels == a).sum())
                                   for a, k in zip(actions, counts)])
            fvds.append(frechet_distance_from_stats(*gaussian_stats(embeddings[draw]), *held_out_stats))
        return {"shares": dict(zip(actions, shares.tolist())), "fvd": float(np.mean(fvds)), "fvd_std": float(np.std(fvds))}

    training_shares = shares_of(list(labels), actions)
    mixes = {"training people's mix": training_shares, "held-out people's mix": shares_of(held_out.labels(), actions)}
    mixes |= {f"training mix without {a}": training_shares * (np.array(actions) != a) for a in actions}
    for path in args.generated:
        generated = json.loads(Path(path).read_text())["class_shares"]
        mixes[f"mix of {Path(path).name}"] = np.array([generated[a]["generated"] for a in actions])
    results = {name: fvd_in_mix(shares) for name, shares in mixes.items()}
    floor = results["training people's mix"]["fvd"]
    for result in results.values():
        result["over_training_mix"] = result["fvd"] / floor
    print(write_result_json(args.out, {"training": args.training, "held_out": args.held_out, "n": args.n,
                                       "draws": DRAWS, "mixes": results}), end="")


if __name__ == "__main__":
    main()
