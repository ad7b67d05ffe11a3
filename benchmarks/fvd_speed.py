"""Clips per second of the I3D pass (16 frames, 224x224): the plain port and its inference form side by side.

    PYTHONPATH=src python benchmarks/fvd_speed.py [--device auto] [--batch-sizes 1 8] [--repeats 5] \
        [--threads N] [--out benchmarks/results/fvd_speed.json]

Each round times, one after the other, the plain `InceptionI3d` (BatchNorm, padded copies, PyTorch's
max-pools: the forward FVD ran before `i3d_inference.py`) and `for_inference` of it at every batch size,
then a 128-channel 3x3x3 Conv3d in inference mode, the machine's convolution peak. On a machine shared
with other jobs the rounds see the same load, so the per-round ratio new / old is the number to read; the
load average before and after is recorded, and the CPU seconds per clip (all threads of this process),
which another job's load changes far less than the wall clock. Needs the converted weights (`videogan weights i3d`), so that
it measures exactly the model FVD runs; `--random-weights` times the same network without them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from videogan.cpu_threads import apply_wait_policy

apply_wait_policy()  # OpenMP's wait policy of the `videogan` command, set before torch loads OpenMP

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from videogan.eval.fvd import FRAMES  # noqa: E402
from videogan.eval.i3d import SIZE, InceptionI3d  # noqa: E402
from videogan.eval.i3d_inference import for_inference  # noqa: E402
from videogan.eval.weights import load_i3d  # noqa: E402
from videogan.runtime import pick_device  # noqa: E402


def timed(fn, device) -> tuple[float, float]:
    """Wall-clock and CPU seconds (of this process, all its threads) of one call. On a shared machine the
    CPU seconds stay near what the work costs while the wall clock also counts the time others held the
    cores."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, time.process_time() - start_cpu


def flops_of(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=None, help="torch's CPU threads (default: its own choice)")
    parser.add_argument("--random-weights", action="store_true", help="the I3D network without its weights")
    parser.add_argument("--out", default=None, help="also write the results as JSON")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    old = InceptionI3d().eval().requires_grad_(False).to(device) if args.random_weights else load_i3d(device, plain=True)
    new = for_inference(old)
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else platform.processor() or platform.machine())
    load_before = os.getloadavg()
    print(f"device {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {load_before[0]:.1f}")

    conv = torch.nn.Conv3d(128, 128, 3, padding=1, bias=False).to(device).eval()
    conv_input = torch.randn(2, 128, 16, 32, 32, device=device)  # the peak of train_speed.py, in inference mode
    inputs = {b: torch.rand(b, 3, FRAMES, SIZE, SIZE, device=device) * 2 - 1 for b in args.batch_sizes}
    times = {(form, b): [] for form in ("old", "new") for b in args.batch_sizes}
    conv_times = []
    with torch.inference_mode():
        clip_flops = flops_of(lambda: old(inputs[args.batch_sizes[0]])) / args.batch_sizes[0]
        conv_flops = flops_of(lambda: conv(conv_input))
        largest_difference = max(float((new(x) - old(x)).abs().max()) for x in inputs.values())  # also a warm-up
        conv(conv_input)
        for round_ in range(args.repeats):
            for b, x in inputs.items():
                for form, model in (("old", old), ("new", new)):
                    times[form, b].append(timed(lambda: model(x), device))
            conv_times.append(timed(lambda: conv(conv_input), device))
            rates = ", ".join(f"{form} b{b} {b / ts[-1][0]:.2f}" for (form, b), ts in times.items())
            print(f"round {round_ + 1}: {rates} clips/s; Conv3d {conv_flops / conv_times[-1][0] / 1e9:.0f} GFLOP/s")

    def median(samples, which: int) -> float:
        return statistics.median(sample[which] for sample in samples)

    conv_peak = conv_flops / median(conv_times, 0)
    conv_cpu_peak = conv_flops / median(conv_times, 1)  # per CPU second
    rows = []
    for b in args.batch_sizes:
        row = {"batch": b}
        for form in ("old", "new"):
            rate = b / median(times[form, b], 0)
            row[f"{form}_clips_per_s"] = rate
            row[f"{form}_gflop_per_s"] = rate * clip_flops / 1e9
            row[f"{form}_of_conv_peak"] = rate * clip_flops / conv_peak
            row[f"{form}_cpu_s_per_clip"] = median(times[form, b], 1) / b
            row[f"{form}_of_conv_peak_cpu"] = clip_flops * b / median(times[form, b], 1) / conv_cpu_peak
        row["ratio_new_over_old"] = statistics.median(o[0] / n[0] for o, n in zip(times["old", b], times["new", b]))
        row["ratio_new_over_old_cpu"] = row["old_cpu_s_per_clip"] / row["new_cpu_s_per_clip"]
        rows.append(row)
    best = {form: max(r[f"{form}_clips_per_s"] for r in rows) for form in ("old", "new")}
    result = {"device": f"{device} ({name})", "torch": torch.__version__, "threads": torch.get_num_threads(),
              "weights": "random" if args.random_weights else "i3d-kinetics-400", "rounds": args.repeats,
              "gflop_per_clip": clip_flops / 1e9, "conv3d_peak_gflop_per_s": conv_peak / 1e9,
              "conv3d_gflop_per_cpu_s": conv_cpu_peak / 1e9,
              "load_average_before": load_before[0], "load_average_after": os.getloadavg()[0],
              "largest_logit_difference": largest_difference, "batches": rows,
              "best_new_over_best_old": best["new"] / best["old"]}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
