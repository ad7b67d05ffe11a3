"""GPU training speed of the paper preset (32 x 64 x 64 clips, widths 512..64) per precision, and what the
loader delivers from prepared shards next to what the GPU consumes. benchmarks/gpu_check.sh runs it.

    PYTHONPATH=src python benchmarks/gpu_train_speed.py [--batch-size 64] [--iterations 20] [--compile] [--loader]

One line per setting: it/s, videos/s, peak GPU memory, achieved TFLOP/s and MFU, the model FLOP rate as
a share of the peak of (a) a large matmul and (b) one of the paper's Conv3d layers, both timed in this run
at the same precision. The iterations are the training loop's own step (training_loop.py, gan.py's GANTask) on
batches already on the GPU, so the loader is measured separately (`--loader`).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from videogan.config import get_preset, replace
from videogan.data import build_dataset
from videogan.data.shards import SHARD_DIR, ShardWriter
from videogan.data.synthetic import MovingObjects
from videogan.runtime import Runtime
from videogan.train.gan import GANTask
from videogan.train.training_loop import (StepContext, clips_on_device, configure_kernels, loader_workers,
                                         resolve_channels_last, training_loader)


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device, repeats: int) -> float:
    """Seconds per call after one warm-up call."""
    fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / repeats


def peak_flops(precision: str, device) -> dict[str, float]:
    """FLOP/s of an 8192^2 matmul and of the discriminator's 256->512 Conv3d (batch 64) at `precision`."""
    configure_kernels(precision, device)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = (torch.randn(8192, 8192, device=device, dtype=dtype) for _ in range(2))
    matmul = 2 * 8192 ** 3 / _timed(lambda: a @ b, device, 10)
    conv = nn.Conv3d(256, 512, 4, stride=2, padding=1, bias=False).to(device, dtype)
    x = torch.randn(64, 256, 8, 16, 16, device=device, dtype=dtype)  # b c t h w: D's fourth layer's input
    with torch.no_grad():
        conv_flops = 2 * conv.weight.numel() * conv(x)[0, 0].numel() * 64
        conv_rate = conv_flops / _timed(lambda: conv(x), device, 10)
    return {"matmul": matmul, "conv3d": conv_rate}


def measure(config, precision: str, iterations: int, device) -> dict:
    runtime = Runtime(device)
    configure_kernels(precision, device)
    task = GANTask(config, runtime, None)
    context = StepContext(runtime, precision)
    batch = config.train.batch_size
    real = (torch.rand(batch, 3, config.model.frames, config.model.size, config.model.size, device=device) * 2 - 1)
    if resolve_channels_last(config.train.channels_last, device):
        real = real.contiguous(memory_format=torch.channels_last_3d)
    for i in range(4):  # warm-up: cuDNN's algorithm search, compilation
        task.step(real, i, context)
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for i in range(iterations):
        task.step(real, 4 + i, context)
    _sync(device)
    seconds = (time.perf_counter() - start) / iterations
    memory = torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else float("nan")
    return {"it_per_s": 1 / seconds, "videos_per_s": batch / seconds, "peak_memory_gib": memory}


def lazy_period(config) -> int:
    """Iterations over which the loop's work repeats: the lazy R1 penalty comes once every r1_every."""
    return config.train.r1_every if config.train.r1_gamma else 1


def iteration_flops(config, device) -> float:
    """FLOPs of one training iteration (G forward, D on real and fake, both backward passes, the G step
    through D, and the lazy R1 penalty's share), counted on the uncompiled float32 networks: the same work
    at every setting."""
    runtime = Runtime(device)
    task = GANTask(replace(config, train={"compile": False}), runtime, None)
    real = torch.zeros(config.train.batch_size, 3, config.model.frames, config.model.size, config.model.size,
                       device=device)
    period = lazy_period(config)
    with FlopCounterMode(display=False) as counter:
        for iteration in range(period):
            task.step(real, iteration, StepContext(runtime, "fp32"))
    return counter.get_total_flops() / period


def loader_rate(config, device, batches: int = 30) -> float:
    """Videos/s the training loader delivers at --workers auto from prepared shards of paper-sized clips."""
    with tempfile.TemporaryDirectory() as tmp:
        clips = MovingObjects(config.model.frames, config.model.size, length=256)
        writer = ShardWriter(Path(tmp) / SHARD_DIR, "bench", max_clips=64)
        for i in range(len(clips)):
            frames = clips[i]["video"].add(1).mul(127.5).round().to(torch.uint8).permute(1, 2, 3, 0)  # t h w 3
            writer.add_clip(f"clip{i:05d}", frames.numpy(), {"source": f"synthetic/{i}", "label": -1})
            writer.end_input({"source": f"synthetic/{i}", "status": "ok"})
        writer.close()
        data_config = replace(config, data={"data": tmp}, train={"workers": "auto"})
        dataset = build_dataset(data_config.data, data_config.model)
        loader = iter(training_loader(dataset, data_config, Runtime(device), 0))
        clips_on_device(next(loader), device, False)  # workers started
        start = time.perf_counter()
        for _ in range(batches):
            clips_on_device(next(loader), device, False)
        _sync(device)
        rate = batches * config.train.batch_size / (time.perf_counter() - start)
        del loader  # its workers stop before their shards are deleted
        return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations per setting")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "tf32", "bf16"])
    parser.add_argument("--compile", action="store_true", help="also time bf16 with --compile")
    parser.add_argument("--channels-last", action="store_true", help="also time bf16 with --channels-last")
    parser.add_argument("--loader", action="store_true", help="also time the loader from prepared shards")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_train_speed: no CUDA GPU on this machine; nothing to measure")
        return
    device = torch.device("cuda")
    print(f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, paper preset, batch {args.batch_size}")
    base = replace(get_preset("paper"), train={"batch_size": args.batch_size, "device": "cuda"})
    settings = [(p, {}) for p in args.precisions]
    settings += [("bf16", {"channels_last": True})] if args.channels_last else []
    settings += [("bf16", {"compile": True})] if args.compile else []
    consumed, flops = 0.0, iteration_flops(base, device)
    for precision, extra in settings:
        peaks = peak_flops(precision, device)
        row = measure(replace(base, train={"precision": precision, **extra}), precision, args.iterations, device)
        achieved = flops * row["it_per_s"]
        consumed = max(consumed, row["videos_per_s"])
        name = precision + "".join(f" --{k.replace('_', '-')}" for k in extra)
        print(f"{name:<24} {row['it_per_s']:6.2f} it/s  {row['videos_per_s']:7.1f} videos/s  "
              f"peak memory {row['peak_memory_gib']:5.1f} GiB  {achieved / 1e12:6.1f} TFLOP/s "
              f"({flops / 1e12:.2f} TFLOP/it)  MFU {100 * achieved / peaks['matmul']:4.1f}% of matmul "
              f"({peaks['matmul'] / 1e12:.0f} TFLOP/s), {100 * achieved / peaks['conv3d']:4.1f}% of Conv3d "
              f"({peaks['conv3d'] / 1e12:.0f} TFLOP/s)", flush=True)
    if args.loader:
        rate = loader_rate(base, device)
        workers = loader_workers("auto")
        verdict = "keeps ahead" if rate > consumed else "BEHIND: the GPU would wait for data"
        print(f"loader, prepared shards, --workers auto ({workers}): {rate:.0f} videos/s; the fastest setting above "
              f"consumes {consumed:.0f} videos/s: {verdict}")


if __name__ == "__main__":
    sys.exit(main())
