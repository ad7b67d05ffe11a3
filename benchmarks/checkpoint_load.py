"""What checking a checkpoint's fields costs when it is loaded (checkpoint.load_checkpoint: types, config,
finite weights, on top of torch.load and the sha256 check), for the `paper` preset's G and D weights.

    PYTHONPATH=src python benchmarks/checkpoint_load.py [--repeats 7]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from videogan.checkpoint import load_checkpoint, save_checkpoint, verify_hash
from videogan.config import get_preset
from videogan.train.gan import init_networks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    config = get_preset("paper")
    generator, discriminator = init_networks(config.model, 0)
    with tempfile.TemporaryDirectory() as folder:
        path = save_checkpoint(Path(folder) / "paper.pt", {"config": config.to_dict(), "iteration": 0,
                                                           "generator": generator.state_dict(),
                                                           "discriminator": discriminator.state_dict()})
        unchecked, checked = [], []
        for _ in range(args.repeats):  # interleaved, so that the machine's load falls on both alike
            start = time.perf_counter()
            verify_hash(torch.load(path, weights_only=True), path)
            unchecked.append(time.perf_counter() - start)
            start = time.perf_counter()
            load_checkpoint(path)
            checked.append(time.perf_counter() - start)
        size = path.stat().st_size / 1e6
    print(f"paper checkpoint ({size:.1f} MB): torch.load + sha256 {statistics.median(unchecked):.3f} s, "
          f"load_checkpoint (every field checked) {statistics.median(checked):.3f} s (medians of {args.repeats})")


if __name__ == "__main__":
    main()
