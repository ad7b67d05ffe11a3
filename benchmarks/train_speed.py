"""Training throughput, peak memory and model FLOP utilisation (MFU) of the presets.

    python benchmarks/train_speed.py                       # paper and cpu presets, a few batch sizes
    python benchmarks/train_speed.py --preset cpu --batch 32 --ticks 5 --tick-iterations 20

Each configuration runs in its own process through `videogan.train.loop.train` (the real loop, with
its data loader), so its peak memory is its own; its speed is the median of the loop's own per-tick
videos/s after a first, dropped tick. FLOPs of one training iteration (G forward, D on
real and fake, both backward passes, G step through D) are counted with torch.utils.flop_counter;
MFU = FLOPs per second / the machine's measured peak (the faster of a large float32 matmul and a
large Conv3d, timed in the same run).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from videogan.config import get_preset, replace
from videogan.runtime import pick_device
from videogan.train.loop import init_networks, train
from videogan.train.loss import VideoGANLoss


def iteration_flops(config) -> int:
    """FLOPs of one training iteration, counted on the CPU (FLOPs do not depend on the device)."""
    generator, discriminator = init_networks(config.model, 0)
    loss = VideoGANLoss(discriminator, config.train.mask_l1)
    b, m = config.train.batch_size, config.model
    real = torch.randn(b, 3, m.frames, m.size, m.size)
    with FlopCounterMode(display=False) as counter:
        parts = generator(torch.randn(b, m.z_dim), parts=True)
        loss.discriminator_loss(real, parts["video"])[0].backward()
        discriminator.requires_grad_(False)  # as in the loop: the G step needs no gradient of D's weights
        loss.generator_loss(parts)[0].backward()
    return counter.get_total_flops()


def peak_flops(device: torch.device) -> dict:
    """Measured float32 peak of this machine: a large matmul and a large Conv3d."""
    def rate(fn, flops, repeats=5):
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return flops * repeats / (time.perf_counter() - start)

    n = 4096 if device.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    matmul = rate(lambda: a @ b, 2 * n ** 3)
    conv = torch.nn.Conv3d(128, 128, 3, padding=1, bias=False).to(device)
    x = torch.randn(8 if device.type == "cuda" else 2, 128, 16, 32, 32, device=device)
    with torch.no_grad():
        conv_rate = rate(lambda: conv(x), 2 * x.numel() * 128 * 27)
    return {"matmul": matmul, "conv3d": conv_rate}


def measure(preset: str, batch: int, ticks: int, tick_iterations: int, device: str, data: str = "synthetic",
            data_format: str = "auto") -> dict:
    """One configuration, in this process, through the real loop: `ticks` + 1 log ticks of `tick_iterations`
    each; the first tick (loader start-up, allocator warm-up) is dropped and the rest are the loop's own
    videos/s, read from stats.jsonl, so the final checkpoint and sample grid are not timed either."""
    config = replace(get_preset(preset), train={
        "batch_size": batch, "iterations": (ticks + 1) * tick_iterations, "log_every": tick_iterations,
        "sample_every": 10 ** 9, "checkpoint_every": 10 ** 9, "device": device},
        data={"data": str(data), "data_format": data_format})
    with tempfile.TemporaryDirectory() as run_dir:
        train(config, run_dir, progress=False)
        records = [json.loads(line) for line in open(os.path.join(run_dir, "stats.jsonl"))][1:]
    videos_per_s = statistics.median(r["videos_per_s"] for r in records)
    dev = pick_device(device)
    peak_mb = (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda"
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2 ** 20
    return {"preset": preset, "batch": batch, "timed_iterations": ticks * tick_iterations,
            "it_per_s": videos_per_s / batch, "videos_per_s": videos_per_s, "peak_mb": peak_mb,
            "memory": "GPU allocated" if dev.type == "cuda" else "process max RSS"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", action="append", help="preset(s) to time (default: paper and cpu)")
    parser.add_argument("--batch", type=int, action="append", help="batch size(s) (default: per preset)")
    parser.add_argument("--ticks", type=int, default=3, help="timed log ticks (the median is reported)")
    parser.add_argument("--tick-iterations", type=int, default=0, help="iterations per tick (default: per preset)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.preset[0], args.batch[0], args.ticks, args.tick_iterations, args.device)))
        return
    device = pick_device(args.device)
    cpu = device.type == "cpu"
    plan = {"paper": ([4, 8] if cpu else [16, 64]), "cpu": ([16, 32, 64] if cpu else [32, 128, 512])}
    peak = peak_flops(device)
    best = max(peak.values())
    print(f"device {device}, {torch.get_num_threads()} threads; measured float32 peak: "
          f"matmul {peak['matmul'] / 1e9:.1f} GFLOP/s, conv3d {peak['conv3d'] / 1e9:.1f} GFLOP/s")
    print("| preset | batch | it/s | videos/s | GFLOP/iteration | achieved GFLOP/s | MFU | peak memory (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for preset in args.preset or ["paper", "cpu"]:
        for batch in args.batch or plan[preset]:
            tick = args.tick_iterations or (2 if preset == "paper" and cpu else 10)
            out = subprocess.run([sys.executable, __file__, "--one", "--preset", preset, "--batch", str(batch),
                                  "--ticks", str(args.ticks), "--tick-iterations", str(tick), "--device", args.device],
                                 capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            if out.returncode != 0:
                print(f"| {preset} | {batch} | failed: {out.stderr.strip().splitlines()[-1]} |")
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            flops = iteration_flops(replace(get_preset(preset), train={"batch_size": batch}))
            achieved = flops * row["it_per_s"]
            print(f"| {preset} | {batch} | {row['it_per_s']:.3f} | {row['videos_per_s']:.1f} | {flops / 1e9:.1f} | "
                  f"{achieved / 1e9:.1f} | {achieved / best:.1%} | {row['peak_mb']:.0f} ({row['memory']}) |")


if __name__ == "__main__":
    main()
