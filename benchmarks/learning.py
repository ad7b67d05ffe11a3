"""Proof that the GAN learns: diagnostics of generated vs built-in videos at checkpoints along a run.

Either evaluate an existing run's checkpoints, or train the `cpu` preset for a wall-clock budget first:
    python benchmarks/learning.py --run /work/runs/cpu-two_stream
    python benchmarks/learning.py --train --arch one_stream --minutes 15 --run runs/learn-one
    python benchmarks/learning.py --train --iterations 300 --precision bf16 --run runs/learn-bf16
Prints a markdown table (and writes <run>/learning.json):
  mask_on_moving / mask_on_static: mean mask over pixels that change between frames / that do not
  motion_w1: Wasserstein distance between per-video motion energies (generated vs real)
  colour_w1: Wasserstein distance between pixel values, channel-averaged
  flicker: mean |frame change| over each video's calmest half of pixels (real built-in videos: 0)
  builtin_shape_score / builtin_motion_score / builtin_named_fraction: the built-in classifier's
    Inception-style scores and the fraction of videos it names confidently (docs/evaluation.md)
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from videogan.checkpoint import list_checkpoints, load_checkpoint
from videogan.config import get_preset, replace
from videogan.data.synthetic import MovingObjects
from videogan.eval import diagnostics
from videogan.eval.builtin_score import builtin_scores
from videogan.models.sampler import generate, load_generator
from videogan.train.gan import train


def real_videos(frames: int, size: int, n: int, seed: int) -> dict:
    # a seed the training run never saw: held-out videos
    ds = MovingObjects(frames, size, seed=seed, with_mask=True)
    items = [ds[i] for i in range(n)]
    return {"video": torch.stack([it["video"] for it in items]), "mask": torch.stack([it["mask"] for it in items])}


def evaluate(checkpoint: Path, real: dict, n: int, seed: int) -> dict:
    generator = load_generator(checkpoint)
    parts = generate(generator, torch.randn(n, generator.cfg.z_dim, generator=torch.Generator().manual_seed(seed)))
    state = load_checkpoint(checkpoint)
    row = {"iteration": state["iteration"], "videos": n,
           "colour_w1": diagnostics.colour_distance(parts["video"], real["video"]),
           "flicker": diagnostics.static_flicker(parts["video"]),
           **diagnostics.motion_energy_distance(parts["video"], real["video"])}
    if "mask" in parts:
        row.update(diagnostics.mask_motion(parts["video"], parts["mask"]))
    return {**row, **builtin_scores(parts["video"].split(64))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="run folder (evaluated; created with --train)")
    parser.add_argument("--train", action="store_true", help="train the cpu preset first")
    parser.add_argument("--arch", default="two_stream")
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget with --train")
    parser.add_argument("--iterations", type=int, default=None,
                        help="with --train: train this many iterations instead of --minutes (equal-work comparisons)")
    parser.add_argument("--checkpoint-every", type=int, default=None, help="with --train (default: the preset's)")
    parser.add_argument("--precision", default="fp32", help="with --train: fp32, tf32 or bf16")
    parser.add_argument("--n", type=int, default=256, help="generated and real videos per checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run = Path(args.run)
    if args.train:
        budget = ({"iterations": args.iterations} if args.iterations else {"max_minutes": args.minutes, "iterations": 10**9})
        every = {"checkpoint_every": args.checkpoint_every} if args.checkpoint_every else {}
        config = replace(get_preset("cpu"), model={"arch": args.arch},
                         train={**budget, **every, "keep_checkpoints": 0, "precision": args.precision})
        start = time.time()
        train(config, run, progress=False)
        print(f"trained {time.time() - start:.0f} s")
    checkpoints = list_checkpoints(run)
    cfg = load_checkpoint(checkpoints[-1])["config"]
    real = real_videos(cfg["model"]["frames"], cfg["model"]["size"], args.n, cfg["data"]["data_seed"] + 1)
    reference = {"iteration": "real", "videos": args.n, "flicker": diagnostics.static_flicker(real["video"]),
                 **diagnostics.mask_motion(real["video"], real["mask"].unsqueeze(1)),
                 "motion_energy": float(diagnostics.motion_energy(real["video"]).mean()),
                 **builtin_scores(real["video"].split(64))}
    rows = [evaluate(c, real, args.n, args.seed) for c in checkpoints]
    stats = {json.loads(line)["iteration"]: json.loads(line)["time"]
             for line in (run / "stats.jsonl").read_text().splitlines()}
    for row in rows:
        row["train_seconds"] = stats.get(row["iteration"])
    columns = ["iteration", "train_seconds", "mask_on_moving", "mask_on_static", "motion_energy",
               "motion_energy_w1", "colour_w1", "flicker", "builtin_shape_score", "builtin_motion_score",
               "builtin_named_fraction"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows + [reference]:
        print("| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |")
    (run / "learning.json").write_text(json.dumps({"rows": rows, "real": reference}, indent=2))


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
