"""How hard is the built-in dataset for a GAN? A plain 2-D DCGAN (Radford et al. 2016) on single frames.

The `make demo` issue asks for nameable objects after 5 minutes of video-GAN training on 2 cores. This is
the floor under that wish: the same data with time taken out (one frame per video) and the textbook image
GAN (G 4W-2W-W, D W-2W-4W, BatchNorm, Adam 2e-4 / 0.5, batch 64). If this network cannot draw nameable
objects in a budget, a video GAN, which must also draw motion over 8 frames, will not either.

Its samples are scored as still videos (each frame repeated) by the built-in classifier's shape score;
real stills set the ceiling (the classifier names shapes in stills almost as well as in motion).
    python benchmarks/image_gan_floor.py --iterations 3000 --json docs/results/image-gan-floor.json \\
        --grid docs/img/image-gan-floor.png
    python benchmarks/image_gan_floor.py --silhouettes --iterations 1500   # shapes alone, white on grey
Prints one line per evaluation: iteration, training seconds, images seen, shape score.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch import nn

from videogan.data.synthetic import render_video, to_model_range
from videogan.data.video_io import grid, to_uint8, write_png
from videogan.eval.builtin_score import builtin_scores
from videogan.eval.classifier import load_classifier

SIZE = 32
Z_DIM = 100


def first_frames(seed: int, first: int, n: int, silhouettes: bool = False) -> torch.Tensor:
    """Frame 0 of built-in videos first..first+n-1 (frames=8 clips, as the demo trains on): n 3 h w.
    `silhouettes`: one object per video, drawn from its true mask, white on plain grey (no colours, stripes
    or scene): the data's shapes and sizes alone."""
    frames = []
    for i in range(first, first + n):
        item = render_video(seed, i, 8, SIZE, max_objects=1 if silhouettes else 3)
        if silhouettes:
            frames.append(torch.from_numpy(item["mask"][0]).mul(1.4).sub(0.4).expand(3, -1, -1))  # -0.4 .. 1
        else:
            frames.append(to_model_range(item["video"][:1])[:, 0])
    return torch.stack(frames)


def dcgan(width: int) -> tuple[nn.Module, nn.Module]:
    """The DCGAN pair for 32x32 images: z 100 1 1 -> 3 32 32 in [-1, 1]; 3 32 32 -> one logit."""
    g = nn.Sequential(
        nn.ConvTranspose2d(Z_DIM, 4 * width, 4), nn.BatchNorm2d(4 * width), nn.ReLU(),  # 4x4
        nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.ReLU(),  # 8x8
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),  # 16x16
        nn.ConvTranspose2d(width, 3, 4, 2, 1), nn.Tanh())  # 32x32
    d = nn.Sequential(
        nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2),  # 16x16
        nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),  # 8x8
        nn.Conv2d(2 * width, 4 * width, 4, 2, 1), nn.BatchNorm2d(4 * width), nn.LeakyReLU(0.2),  # 4x4
        nn.Conv2d(4 * width, 1, 4))
    for m in [*g.modules(), *d.modules()]:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
    return g, d


def still_scores(images: torch.Tensor, classifier) -> dict:
    """Shape score of n 3 h w images shown as 8-frame still videos. (Not the named fraction: on stills the
    classifier is confident about noise early in training, so the fraction says nothing there.)"""
    stills = images[:, :, None].expand(-1, -1, 8, -1, -1)
    return {"shape_score": builtin_scores([stills], classifier)["builtin_shape_score"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=3000)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--width", type=int, default=64, help="W: G 4W-2W-W, D W-2W-4W (DCGAN: 64)")
    p.add_argument("--train-images", type=int, default=20000, help="distinct frames drawn from (rendered once)")
    p.add_argument("--samples", type=int, default=256, help="generated and real stills scored")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--silhouettes", action="store_true",
                   help="the easiest form of the data: one white object per frame on plain grey")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path)
    p.add_argument("--grid", type=Path, help="PNG of 64 samples at the last iteration")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    images = first_frames(1234, 0, args.train_images, args.silhouettes)  # the dataset's training seed
    classifier = load_classifier()
    real = still_scores(first_frames(1234, 10_000_000, args.samples, args.silhouettes), classifier)  # held out
    print(f"real stills: shape score {real['shape_score']:.3f}")

    g, d = dcgan(args.width)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(args.batch_size), torch.zeros(args.batch_size)
    fixed_z = torch.randn(args.samples, Z_DIM, 1, 1)
    rows, start, elapsed = [], time.perf_counter(), 0.0
    for it in range(1, args.iterations + 1):
        real_batch = images[torch.randint(len(images), (args.batch_size,))]
        fake = g(torch.randn(args.batch_size, Z_DIM, 1, 1))
        loss_d = bce(d(real_batch).flatten(), ones) + bce(d(fake.detach()).flatten(), zeros)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = bce(d(fake).flatten(), ones)  # non-saturating G loss
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if it % args.eval_every == 0 or it == args.iterations:
            elapsed += time.perf_counter() - start  # training time only, not scoring
            with torch.no_grad():
                samples = g.eval()(fixed_z)
            g.train()
            row = {"iteration": it, "train_seconds": round(elapsed, 1), "images_seen": it * args.batch_size,
                   **still_scores(samples, classifier)}
            rows.append(row)
            print(f"it {it:6d}  {row['train_seconds']:7.1f} s  images {row['images_seen']:7d}  "
                  f"shape score {row['shape_score']:.3f}", flush=True)
            start = time.perf_counter()
    if args.grid:
        write_png(args.grid, grid(to_uint8(samples[:64, :, None]), columns=8)[0], scale=2)
    if args.json:
        args.json.write_text(json.dumps({
            "command": "python benchmarks/image_gan_floor.py " + " ".join(
                f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in vars(args).items()
                if v is not None and v is not False and k not in ("json", "grid")),
            "machine": f"{platform.processor() or platform.machine()}, {args.threads} threads",
            "real_stills": real, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
