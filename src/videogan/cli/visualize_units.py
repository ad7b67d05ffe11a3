"""`videogan visualize-units`: what the future generator's encoder learned (the paper's Figure 6)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..data.video_io import write_png
from ..files import write_atomic
from ..runtime import pick_device
from ..tasks.future import load_future_generator, load_image
from ..tasks.units import encoder_layers, image_files, visualize_units


def run(args) -> None:
    generator = load_future_generator(args.checkpoint, pick_device(args.device))
    layers = encoder_layers(generator, args.layer)  # before reading any image
    files = image_files(args.images)
    images = torch.stack([load_image(p, generator.cfg.size) for p in files])
    picture, rows = visualize_units(layers, images, args.units, args.top)
    for row in rows:
        row["images"] = [files[i].name for i in row["images"]]
    out = Path(args.out)
    scale = max(1, 64 // generator.cfg.size)  # small frames are enlarged to at least 64 pixels a side
    png = out / f"units-layer{args.layer}.png"
    write_png(png, picture, scale)
    meta = out / f"units-layer{args.layer}.json"
    write_atomic(meta, json.dumps({"checkpoint": str(args.checkpoint), "layer": args.layer, "images": len(files),
                                              "units": rows}, indent=2) + "\n")
    print(f"wrote {png} and {meta}")


def register(subparsers) -> None:
    parser = subparsers.add_parser("visualize-units",
                                   help="the encoder units of a future model most selective on a folder of images")
    parser.add_argument("checkpoint", help="checkpoint file or run folder (its latest checkpoint)")
    parser.add_argument("--images", required=True, help="folder of image files")
    parser.add_argument("--layer", type=int, required=True, help="encoder layer, 1 = nearest the image")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--units", type=int, default=8, help="rows: the most selective units")
    parser.add_argument("--top", type=int, default=6, help="columns: each unit's top images")
    parser.add_argument("--device", default="auto")
    parser.set_defaults(func=run)
