"""Future generation (section 3.4) on held-out clips of the run's data, against simple baselines.

    PYTHONPATH=src python benchmarks/future_eval.py runs/future-cpu --n 256 --fvd-n 64
    PYTHONPATH=src python benchmarks/future_eval.py runs/future-real --held-out data/test-shards

Held-out clips: for a run on the built-in dataset, its data config with the data seed + 1 (as `videogan
evaluate`); for a run on a prepared dataset, `--held-out PATH`, a prepared dataset the run never trained
on (another seed of the training data would draw clips the run has seen). Each method gets a clip's
first frame x0 and makes T frames:
  model          the checkpoint's future generator
  still          x0 repeated (no motion)
  mean motion    x0 + the mean over training clips y of (y_t - y_0): the average motion of the training
                 set, pasted onto the input (uses no held-out information)
  pasted motion  x0 + (y_t - y_0) for one training clip y per input: real motion of the right amount,
                 but of other objects in another scene
Numbers (means over clips): PSNR / SSIM of frame 1 against x0; PSNR of frames 2..T against the true
future; motion energy (mean |frame change|) and its Wasserstein distance to the real clips'; FVD
(I3D, 16 frames) of each method's clips against the real held-out clips, and of other real held-out
clips against them (the floor at this n). Writes RUN/future_eval.json, RUN/future_eval.gif (rows:
real, model, still, pasted motion, for the first 8 clips) and RUN/future_eval.png (a row per clip: 4
frames of the real clip, then the same frames of the model's).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from videogan.checkpoint import config_of, load_checkpoint
from videogan.config import DataConfig, RunConfig
from videogan.data import build_dataset
from videogan.data.video_io import grid, to_uint8, write_png, write_video
from videogan.eval import diagnostics
from videogan.tasks.future import load_future_generator, predict
from videogan.train.media import even_frames, still_rows


def held_out_data(config: RunConfig, checkpoint: str, held_out: str | None) -> DataConfig:
    if held_out is not None:
        return dataclasses.replace(config.data, data=held_out, data_format="auto")
    if config.data.data == "synthetic":
        return dataclasses.replace(config.data, data_seed=config.data.data_seed + 1)
    raise SystemExit(f"{checkpoint}: trained on {config.data.data!r}, whose other seeds are clips it trained on; "
                     "give --held-out PATH, a prepared dataset of clips it never saw")


def clips(data: DataConfig, config: RunConfig, count: int, seed: int, skip: int = 0) -> torch.Tensor:
    """`count` clips of the dataset `data` names, after the first `skip`, at the run's frames and size:
    n 3 t h w. A prepared dataset is in file order, so grouped by source and class: its clips are taken
    in a seeded random order. The built-in dataset's videos are independent draws: in order."""
    dataset = build_dataset(data, config.model)
    if len(dataset) < skip + count:
        raise SystemExit(f"{data.data}: {len(dataset)} clips, fewer than the {skip + count} needed "
                         "(lower --n, --fvd-n or --train-clips)")
    if data.data == "synthetic":
        order = np.arange(skip + count)
    else:
        order = np.random.default_rng(seed).permutation(len(dataset))
    return torch.stack([dataset[int(i)]["video"] for i in order[skip:skip + count]])


def scores(videos: torch.Tensor, real: torch.Tensor) -> dict:
    first, truth = videos[:, :, 0], real[:, :, 0]
    out = {"first_psnr": diagnostics.psnr(first, truth).mean().item(),
           "first_ssim": diagnostics.ssim(first, truth).mean().item(),
           "future_psnr": diagnostics.psnr(videos[:, :, 1:], real[:, :, 1:]).mean().item()}
    return out | diagnostics.motion_energy_distance(videos, real)


def fvd(videos: torch.Tensor, real_stats, model) -> float:
    from videogan.eval.fvd import embed_videos, frechet_distance_from_stats, gaussian_stats

    return frechet_distance_from_stats(*gaussian_stats(embed_videos(list(to_uint8(videos)), model)), *real_stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="checkpoint file or run folder of a --task future model")
    parser.add_argument("--n", type=int, default=256, help="held-out clips for PSNR, SSIM and motion")
    parser.add_argument("--fvd-n", type=int, default=64, help="clips per set for FVD (0: skip FVD)")
    parser.add_argument("--train-clips", type=int, default=1024, help="training clips for the mean motion")
    parser.add_argument("--held-out", metavar="PATH",
                        help="prepared dataset of held-out clips (default: for the built-in dataset, its next seed)")
    parser.add_argument("--seed", type=int, default=0, help="order in which a prepared dataset's clips are taken")
    args = parser.parse_args()

    state = load_checkpoint(args.run)
    config = config_of(state)
    held_out = held_out_data(config, state["path"], args.held_out)
    generator = load_future_generator(args.run)
    real = clips(held_out, config, args.n, args.seed)
    train_clips = clips(config.data, config, args.train_clips, args.seed + 1)
    motion = train_clips - train_clips[:, :, :1]  # n 3 t h w: y_t - y_0
    x0 = real[:, :, :1]  # n 3 1 h w
    methods = {
        "model": predict(generator, real[:, :, 0])["video"],
        "still": x0.expand_as(real),
        "mean motion": (x0 + motion.mean(dim=0, keepdim=True)).clamp(-1, 1),
        "pasted motion": (x0 + motion[torch.arange(args.n) % len(motion)]).clamp(-1, 1),
    }
    result = {"checkpoint": state["path"], "iteration": state["iteration"], "n": args.n, "fvd_n": args.fvd_n,
              "seed": args.seed,
              "held_out": {"data": held_out.data, "data_seed": held_out.data_seed}, "methods": {}}
    for name, videos in methods.items():
        result["methods"][name] = scores(videos, real)
    if args.fvd_n:
        from videogan.eval.fvd import embed_videos, gaussian_stats
        from videogan.eval.weights import load_i3d

        start = time.time()
        i3d = load_i3d("cpu")
        real_stats = gaussian_stats(embed_videos(list(to_uint8(real[:args.fvd_n])), i3d))
        others = clips(held_out, config, args.fvd_n, args.seed, skip=args.n)
        result["fvd_real_floor"] = fvd(others, real_stats, i3d)
        for name, videos in methods.items():
            result["methods"][name]["fvd"] = fvd(videos[:args.fvd_n], real_stats, i3d)
        result["fvd_seconds"] = round(time.time() - start, 1)
    run_dir = Path(state["path"]).parent.parent
    (run_dir / "future_eval.json").write_text(json.dumps(result, indent=2) + "\n")
    shown = torch.cat([real[:8], methods["model"][:8], methods["still"][:8], methods["pasted motion"][:8]])
    write_video(run_dir / "future_eval.gif", grid(to_uint8(shown), columns=8), fps=8, scale=2)
    # a still for pages: a row per clip, 4 frames of the real clip, then the same frames of the model's
    write_png(run_dir / "future_eval.png",
              still_rows([even_frames(real[:8], 4), even_frames(methods["model"][:8], 4)]), scale=2)
    print(json.dumps(result, indent=2))
    print("| method | frame-1 PSNR | frame-1 SSIM | future PSNR | motion energy (real {:.4f}) | motion W1 | FVD |".format(
        result["methods"]["model"]["motion_energy_real"]))
    print("|---|---|---|---|---|---|---|")
    for name, row in result["methods"].items():
        print(f"| {name} | {row['first_psnr']:.2f} | {row['first_ssim']:.3f} | {row['future_psnr']:.2f} | "
              f"{row['motion_energy']:.4f} | {row['motion_energy_w1']:.4f} | {row.get('fvd', float('nan')):.1f} |")
    if args.fvd_n:
        print(f"| real (other held-out clips) | | | | | | {result['fvd_real_floor']:.1f} |")


if __name__ == "__main__":
    main()
