"""Clips per second of the I3D pass (16 frames, 224x224) for batch sizes 1..8.

    PYTHONPATH=src python benchmarks/fvd_speed.py [--device auto] [--batch-sizes 1 2 4 8] [--repeats 2]

Needs the converted weights (`videogan weights i3d`), so that it measures exactly the model FVD runs;
`--random-weights` times the same network without them (a machine without the cache or a network).
"""
from __future__ import annotations

import argparse
import platform
import time

import torch

from videogan.eval.fvd import FRAMES
from videogan.eval.i3d import SIZE, InceptionI3d
from videogan.eval.weights import load_i3d
from videogan.runtime import pick_device


def clips_per_second(model, batch: int, repeats: int, device) -> float:
    x = torch.rand(batch, 3, FRAMES, SIZE, SIZE, device=device) * 2 - 1  # b 3 t h w in [-1, 1]
    with torch.inference_mode():
        model(x)  # warm-up: allocator, cuDNN algorithm choice
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return batch * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--random-weights", action="store_true", help="the I3D network without its weights")
    args = parser.parse_args()
    device = pick_device(args.device)
    model = InceptionI3d().eval().requires_grad_(False).to(device) if args.random_weights else load_i3d(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    for batch in args.batch_sizes:
        print(f"batch {batch}: {clips_per_second(model, batch, args.repeats, device):.2f} clips/s")


if __name__ == "__main__":
    main()
