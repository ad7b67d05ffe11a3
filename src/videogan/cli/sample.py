"""`videogan sample`: videos from a trained generator, and for the two-stream model its streams."""
from __future__ import annotations

from pathlib import Path

from ..models.sampler import load_sampler
from ..runtime import pick_device
from ..tasks.sample import write_samples

RAW_HELP = "the trained G, not the average of its weights (runs with --ema-half-life)"


def run(args) -> None:
    sampler = load_sampler(args.checkpoint, pick_device(args.device), args.raw)
    out = Path(args.out)
    written = write_samples(sampler, out, args.n, args.seed, args.interpolate, args.each, args.fps)
    print(f"wrote {len(written)} files to {out}")


def add_sample_arguments(parser) -> None:
    parser.add_argument("checkpoint", help="checkpoint file or run folder (its latest checkpoint)")
    parser.add_argument("--n", type=int, default=16, help="number of videos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--interpolate", action="store_true", help="videos along a line between two codes drawn from the prior")
    parser.add_argument("--each", action="store_true", help="also write every video as its own MP4 (for FVD)")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--device", default="auto")


def register(subparsers) -> None:
    parser = subparsers.add_parser("sample", help="generate videos (and the two-stream model's streams)")
    add_sample_arguments(parser)
    parser.add_argument("--raw", action="store_true", help=RAW_HELP)  # GANs only: the baseline keeps no average
    parser.set_defaults(func=run)
