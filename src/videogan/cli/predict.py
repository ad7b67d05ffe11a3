"""`videogan predict`: the future of still images (section 3.4) from a `--task future` checkpoint."""
from __future__ import annotations

from pathlib import Path

import torch

from ..runtime import pick_device
from ..tasks.future import load_future_generator, load_image, output_names, predict, write_prediction
from .sample import RAW_HELP


def run(args) -> None:
    generator = load_future_generator(args.checkpoint, pick_device(args.device), args.raw)
    paths = [Path(p) for p in args.images]
    images = torch.stack([load_image(p, generator.cfg.size) for p in paths])  # every file checked before any work
    out = Path(args.out)
    for path, name, image in zip(paths, output_names(paths), images):
        parts = predict(generator, image[None], args.samples, args.seed)
        written = write_prediction(out / name, image, parts, args.fps, args.scale)
        print(f"{path}: wrote {len(written)} files to {out / name}")


def register(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="a video of the future of each still image (--task future model)")
    parser.add_argument("checkpoint", help="checkpoint file or run folder (its latest checkpoint)")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any size or mode)")
    parser.add_argument("--out", required=True, help="output folder (one subfolder per image)")
    parser.add_argument("--samples", type=int, default=1, help="futures per image (needs a --noise-dim model)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise (--noise-dim models)")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--scale", type=int, default=1, help="enlarge the written files by this factor")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--raw", action="store_true", help=RAW_HELP)
    parser.set_defaults(func=run)
