"""Training speed: ours side by side with the closest public PyTorch port, and the presets' MFU.

    python benchmarks/train_speed.py --peer /tmp/peer/train_golf.py               # quiet machine
    python benchmarks/train_speed.py --peer /tmp/peer/train_golf.py --with-load   # with a competing job
    python benchmarks/train_speed.py --no-peer --batch 8 --rounds 2               # ours only, quicker
    python benchmarks/train_speed.py --layouts paper:8 --layouts cpu --rounds 8   # the memory layouts per preset
    python benchmarks/train_speed.py --rounds 8 --batch 8 --small-preset demo --spin-count 3000   # wait policies
    GOMP_SPINCOUNT=1000 python benchmarks/train_speed.py --profile 2              # where the time goes

1. Side by side (paper-sized networks, synthetic batches, 2 threads, batch 8 and 16). Each contender
   lives in its own process, so each has its own OpenMP settings, and the processes take turns: round
   after round, each runs `--iterations` training iterations while the others wait, in a rotating order,
   so that a change in the machine's load hits every contender alike. Contenders:
   - `ours`: our networks and loop body (train/gan.py's iteration) with the thread policy that the
     `videogan` command applies (videogan/cpu_threads.py: GOMP_SPINCOUNT=1000, a short spin) and the
     preset's memory format on the CPU (channels_last_3d where its `channels_last` is auto);
   - `ours, OpenMP default`: the same without that policy (what a library user gets who imports torch
     before videogan and sets no policy);
   - `ours, OMP_WAIT_POLICY=PASSIVE`: threads that sleep at once (the command's policy until 2026-12-04);
     `--spin-count N` adds `ours` with GOMP_SPINCOUNT=N;
   - `ours, contiguous` or `ours, channels_last_3d`: `ours` in the memory format the preset does not use
     by default: the 3-D convolutions' weights and the real batch contiguous, or in channels_last_3d
     order (same function, same losses up to rounding);
   - `peer`: yhjo09/videogan-pytorch's Generator and Discriminator and its loop body as it runs it, with
     torch's defaults (`--peer-with-policy` adds it under our wait policy too). Its code is not part of
     this project: give `--peer PATH` to a local copy of its train_golf.py
     (https://github.com/yhjo09/videogan-pytorch); only its two network classes are read.
     Its iteration does more work than ours: G forward twice (once without gradients for the D step,
     again for the G step, on fresh noise), the gradient of D's weights in the G step (D is not frozen),
     and the gradient of the real input (its real batch is a leaf that requires grad); the FLOPs column
     counts each loop body as it runs.
   The speed is the median over rounds; `ours/peer` is the median of the per-round ratios. Then the
   `ours` contenders on a small preset (`--small-preset`, default `cpu` at its batch; 10 iterations per
   round), whose many small kernels are where threads that sleep at once cost the most.
2. The presets through the real loop (`videogan.train.gan.train`, its data loader, the built-in
   dataset), each in its own process with the CLI's thread policy: it/s, videos/s, peak memory, MFU.

MFU = FLOPs of one iteration (torch.utils.flop_counter) x iterations/s / the measured float32 peak of a
128-channel 3x3x3 Conv3d (and a 2048^3 matmul, printed), timed in the same run. `--with-load` runs a
fixed competing CPU-bound job (a 2-thread float32 matmul loop in its own process, torch's OpenMP
defaults) for the whole measurement. The load average is printed before each batch size, after every
round and with every row.
"""
from __future__ import annotations

import argparse
import ast
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

# torch before videogan on purpose: each process's wait policy is the one its environment names (the
# contender's, or the user's for --profile), not the one importing videogan would set
warnings.filterwarnings("ignore", message="torch was imported before videogan", category=RuntimeWarning)
from videogan.config import get_preset, replace
from videogan.data import build_dataset
from videogan.cpu_threads import WAIT_POLICY_VARIABLES, apply_wait_policy
from videogan.runtime import Runtime, pick_device
from videogan.train.gan import GANTask, train
from videogan.train.training_loop import StepContext, resolve_channels_last

from gpu_train_speed import iteration_flops, lazy_period  # this folder: the loop's FLOPs, counted one way

PEER_URL = "https://github.com/yhjo09/videogan-pytorch"


def load_average() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _adam(params) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))  # both ports: the paper's Adam


def our_step(preset: str, batch: int, seed: int = 0, channels_last: bool | None = None):
    """Our iteration: the training loop's own step (train/gan.py's GANTask, with the loop's memory format:
    the preset's CPU default, or channels_last_3d on or off) on a fixed synthetic real batch."""
    layout = {} if channels_last is None else {"channels_last": channels_last}
    config = replace(get_preset(preset), train={"batch_size": batch, "seed": seed, "device": "cpu", **layout})
    runtime = Runtime(torch.device("cpu"))
    # the video task reads no clip at construction; the future task its progress samples' first frames
    dataset = build_dataset(config.data, config.model) if config.model.task == "future" else None
    task = GANTask(config, runtime, dataset)
    context = StepContext(runtime, "fp32")
    model = config.model
    real = torch.rand(batch, 3, model.frames, model.size, model.size, generator=torch.Generator().manual_seed(seed))
    real = real * 2 - 1  # b 3 t h w
    if resolve_channels_last(config.train.channels_last, runtime.device):
        real = real.contiguous(memory_format=torch.channels_last_3d)
    iterations = itertools.count()

    def step() -> tuple[float, float]:
        stats = task.step(real, next(iterations), context)
        return float(stats["loss_d"]), float(stats["loss_g"])
    return step


def load_peer_networks(path: str) -> tuple[type, type]:
    """The peer's Generator and Discriminator classes, read from its train_golf.py without running the rest
    of it (its module level parses the command line and imports skvideo, skimage and scipy.misc)."""
    source = Path(path).read_text()
    wanted = [node for node in ast.parse(source).body
              if isinstance(node, ast.ClassDef) and node.name in ("Generator", "Discriminator")]
    if len(wanted) != 2:
        raise ValueError(f"{path}: expected the classes Generator and Discriminator of {PEER_URL}'s train_golf.py")
    namespace = {"torch": torch, "nn": torch.nn, "F": F, "init": torch.nn.init,
                 "args": SimpleNamespace(zd=100)}  # its Generator's default z size comes from its flags
    exec(compile(ast.Module(body=wanted, type_ignores=[]), path, "exec"), namespace)
    return namespace["Generator"], namespace["Discriminator"]


def peer_step(path: str, batch: int, seed: int = 0):
    """The peer's iteration as its train_golf.py runs it, on a fixed synthetic real batch."""
    generator_class, discriminator_class = load_peer_networks(path)
    torch.manual_seed(seed)
    generator, discriminator = generator_class(zdim=100), discriminator_class()
    opt_g, opt_d = _adam(generator.parameters()), _adam(discriminator.parameters())
    real = (torch.rand(batch, 3, 32, 64, 64) * 2 - 1).requires_grad_()  # its real batch requires grad

    def step() -> tuple[float, float]:
        with torch.no_grad():
            fake = generator(torch.randn(batch, 100))[0]
        logit_real, logit_fake = discriminator(real), discriminator(fake.detach())
        d_loss = torch.stack([F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real)),
                              F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))]).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        video, _, _, mask = generator(torch.randn(batch, 100))  # G forward again, on fresh noise
        logit = discriminator(video)  # D is not frozen: its weight gradients are computed too
        g_loss = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit)) + 0.1 * mask.abs().mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        return float(d_loss.detach()), float(g_loss.detach())
    return step


def step_flops(step, period: int = 1) -> tuple[float, list[tuple[float, float]]]:
    """FLOPs of one call of a training step, as it runs (counted on the CPU; the mean over `period` calls,
    whose work repeats with the lazy R1 penalty), and those calls' losses."""
    with FlopCounterMode(display=False) as counter:
        losses = [step() for _ in range(period)]
    return counter.get_total_flops() / period, losses


def serve_contender(spec: dict) -> None:
    """Child process: build one contender, then run `n` iterations per line "n" read from stdin, answering
    each with a JSON line of the seconds taken and the losses."""
    torch.set_num_threads(spec["threads"])
    period = 1
    if spec["kind"] == "ours":
        step = our_step(spec.get("preset", "paper"), spec["batch"], channels_last=spec.get("channels_last"))
        period = lazy_period(get_preset(spec.get("preset", "paper")))
    else:
        step = peer_step(spec["peer"], spec["batch"])
    flops, losses = step_flops(step, period)  # also the warm-up, the first iteration from the initial weights
    print(json.dumps({"flops": flops, "losses": losses}), flush=True)
    for line in sys.stdin:
        start = time.perf_counter()
        losses = [step() for _ in range(int(line))]
        print(json.dumps({"seconds": time.perf_counter() - start, "losses": losses}), flush=True)


class Contender:
    def __init__(self, name: str, spec: dict, env: dict):
        self.name, self.spec = name, spec
        self.process = subprocess.Popen([sys.executable, __file__, "--contender", json.dumps(spec)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        first = self._answer()
        self.flops, self.seconds, self.losses = first["flops"], [], list(first["losses"])

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: the contender's process exited (see its error above)")
        return json.loads(line)

    def run(self, iterations: int) -> float:
        self.process.stdin.write(f"{iterations}\n")
        self.process.stdin.flush()
        answer = self._answer()
        self.seconds.append(answer["seconds"])
        self.losses += answer["losses"]
        return answer["seconds"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def contender_env(threads: int, wait_policy: bool | str | int) -> dict:
    """True: the `videogan` command's policy; False: OpenMP's defaults; "passive": OMP_WAIT_POLICY=PASSIVE
    (threads sleep at once); a number: GOMP_SPINCOUNT=N."""
    env = {k: v for k, v in os.environ.items() if k not in WAIT_POLICY_VARIABLES}
    env.update(OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    if wait_policy is True:
        apply_wait_policy(env)
    elif wait_policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    elif wait_policy is not False:
        env["GOMP_SPINCOUNT"] = str(wait_policy)
    return env


def compare(preset: str, batch: int, peer: str | None, rounds: int, iterations: int, threads: int,
            conv_peak: float, peer_with_policy: bool = False, spin_counts: tuple[int, ...] = (),
            layouts_only: bool = False) -> None:
    """One preset and batch size: the contenders take turns for `rounds` rounds; prints a row per contender.
    `layouts_only`: just the two memory layouts, contiguous and channels_last_3d, both with the command's
    wait policy (the per-preset choice of the layout)."""
    layouts = [("ours, contiguous", {"kind": "ours", "preset": preset, "channels_last": False}, True),
               ("ours, channels_last_3d", {"kind": "ours", "preset": preset, "channels_last": True}, True)]
    other_layout = layouts[0] if resolve_channels_last(get_preset(preset).train.channels_last, torch.device("cpu")) \
        else layouts[1]  # the one the preset does not use by default
    specs = layouts if layouts_only else [
        ("ours", {"kind": "ours", "preset": preset}, True),
        ("ours, OpenMP default", {"kind": "ours", "preset": preset}, False), other_layout,
        ("ours, OMP_WAIT_POLICY=PASSIVE", {"kind": "ours", "preset": preset}, "passive")]
    specs += [(f"ours, GOMP_SPINCOUNT={n}", {"kind": "ours", "preset": preset}, n) for n in spin_counts]
    if peer and peer_with_policy:
        specs.append(("peer, with our wait policy", {"kind": "peer", "peer": peer}, True))
    if peer:
        specs.append(("peer", {"kind": "peer", "peer": peer}, False))  # last: the ratios' reference
    print(f"\n{preset} preset, batch {batch}: starting {len(specs)} contenders "
          f"(load average {load_average()})", flush=True)
    contenders = [Contender(name, {**spec, "batch": batch, "threads": threads}, contender_env(threads, policy))
                  for name, spec, policy in specs]
    try:
        for r in range(rounds):
            shift = r % len(contenders)
            for contender in contenders[shift:] + contenders[:shift]:
                contender.run(iterations)
            print(f"  round {r + 1}/{rounds}: " + ", ".join(
                f"{c.name} {iterations * batch / c.seconds[-1]:.2f}" for c in contenders)
                + f" videos/s (load average {load_average()})", flush=True)
    finally:
        for contender in contenders:
            contender.close()
    print("| preset | batch | contender | videos/s (median) | per round | GFLOP / iteration | MFU (Conv3d peak) "
          "| / peer (median of rounds) | load average |")
    print("|---|---|---|---|---|---|---|---|---|")
    peer_seconds = contenders[-1].seconds if peer else None
    if layouts_only:
        contiguous, channels_last = contenders
        print(f"channels_last_3d / contiguous, {preset} at batch {batch} (median of the per-round ratios): "
              f"{statistics.median(a / b for a, b in zip(contiguous.seconds, channels_last.seconds)):.2f}x")
    for c in contenders:
        rates = [iterations * batch / s for s in c.seconds]
        median = statistics.median(rates)
        ratio = f"{statistics.median(p / s for p, s in zip(peer_seconds, c.seconds)):.2f}x" if peer else "n/a"
        mfu = c.flops * median / batch / conv_peak
        print(f"| {preset} | {batch} | {c.name} | {median:.2f} | {' '.join(f'{x:.2f}' for x in rates)} | "
              f"{c.flops / 1e9:.1f} | {mfu:.1%} | {ratio} | {load_average()} |")
    ours = contenders[0].losses
    for other in contenders[1:3]:  # same seed, same codes: the same losses up to rounding
        diffs = [max(abs(a - b) for a, b in zip(x, y)) for x, y in zip(ours, other.losses)]
        print(f"loss difference, ours vs {other.name}: first iteration (the same initial weights) {diffs[0]:.1e}, "
              f"largest over {len(diffs)} iterations {max(diffs):.1e} (Adam turns rounding-sized differences of "
              f"near-zero gradients into whole steps)")




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


def preset_table(plan: list[tuple[str, int]], ticks: int, tick_iterations: int, device: str, cpu: bool,
                 conv_peak: float) -> None:
    print("\n| preset | batch | it/s | videos/s | GFLOP/iteration | achieved GFLOP/s | MFU (Conv3d peak) "
          "| peak memory (MB) | load average |")
    print("|---|---|---|---|---|---|---|---|---|")
    for preset, batch in plan:
        load = load_average()
        tick = tick_iterations or (2 if preset == "paper" and cpu else 10)
        out = subprocess.run([sys.executable, __file__, "--one", "--preset", preset, "--batch", str(batch),
                              "--ticks", str(ticks), "--tick-iterations", str(tick), "--device", device],
                             capture_output=True, text=True, env=contender_env(torch.get_num_threads(), True))
        if out.returncode != 0:
            print(f"| {preset} | {batch} | failed: {out.stderr.strip().splitlines()[-1]} |")
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        # counted on the CPU: FLOPs do not depend on the device
        flops = iteration_flops(replace(get_preset(preset), train={"batch_size": batch}), torch.device("cpu"))
        achieved = flops * row["it_per_s"]
        print(f"| {preset} | {batch} | {row['it_per_s']:.3f} | {row['videos_per_s']:.1f} | {flops / 1e9:.1f} | "
              f"{achieved / 1e9:.1f} | {achieved / conv_peak:.1%} | {row['peak_mb']:.0f} ({row['memory']}) "
              f"| {load} |", flush=True)


def profile(batch: int, iterations: int) -> None:
    """torch.profiler over `iterations` of our paper-preset iteration in this process (after a warm-up one);
    prints the top ops by self CPU time, grouped by input shapes. The wait policy is whatever this process's
    environment says: run it with GOMP_SPINCOUNT=1000, OMP_WAIT_POLICY=PASSIVE or neither to compare."""
    step = our_step("paper", batch)
    step()
    print(f"profiling {iterations} iterations, batch {batch}, {torch.get_num_threads()} threads, "
          + ", ".join(f"{name}={os.environ.get(name, '(unset)')}" for name in WAIT_POLICY_VARIABLES[:2])
          + f", load average {load_average()}")
    start = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(iterations):
            step()
    print(f"{(time.perf_counter() - start) / iterations:.2f} s per iteration (profiled); "
          f"load average {load_average()}")
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=12,
                                                             max_name_column_width=30, max_shapes_column_width=70))


def competing_job() -> None:
    """The fixed competing load of --with-load: a 2-thread float32 matmul loop, torch's OpenMP defaults."""
    torch.set_num_threads(2)
    a = torch.randn(512, 512)
    while True:
        a = torch.tanh(a @ a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", metavar="PATH", default="/tmp/peer/train_golf.py",
                        help=f"local copy of {PEER_URL}'s train_golf.py (never committed here)")
    parser.add_argument("--no-peer", action="store_true", help="time ours only")
    parser.add_argument("--peer-with-policy", action="store_true",
                        help="also time the peer under our OpenMP wait policy (what its networks do with it)")
    parser.add_argument("--with-load", action="store_true", help="run a fixed competing CPU-bound job meanwhile")
    parser.add_argument("--batch", type=int, action="append", help="side-by-side batch sizes (default 8 and 16)")
    parser.add_argument("--rounds", type=int, default=3, help="side-by-side rounds (the median is reported)")
    parser.add_argument("--iterations", type=int, default=1, help="iterations per contender and round")
    parser.add_argument("--threads", type=int, default=2, help="threads of each side-by-side contender")
    parser.add_argument("--spin-count", type=int, action="append", default=[],
                        help="also time ours with GOMP_SPINCOUNT=N (OpenMP threads spin N times, then sleep)")
    parser.add_argument("--small-preset", default="cpu", help="the side-by-side small preset: cpu or demo")
    parser.add_argument("--preset", action="append", help="real-loop preset(s): paper, cpu, demo (default: paper and cpu)")
    parser.add_argument("--no-presets", action="store_true", help="skip the real-loop preset table")
    parser.add_argument("--layouts", action="append", metavar="PRESET[:BATCH]",
                        help="only time contiguous against channels_last_3d on these presets (at their own batch, "
                             "or BATCH), --rounds rounds of --iterations iterations (x10 below 64x64)")
    parser.add_argument("--ticks", type=int, default=3, help="real loop: timed log ticks (the median is reported)")
    parser.add_argument("--tick-iterations", type=int, default=0, help="real loop: iterations per tick")
    parser.add_argument("--device", default="auto", help="real-loop device (the side-by-side runs on the CPU)")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="only profile N of our paper-preset iterations at the first --batch (default 8)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child: one real-loop row
    parser.add_argument("--contender", help=argparse.SUPPRESS)  # child: one side-by-side contender
    parser.add_argument("--competing-job", action="store_true", help=argparse.SUPPRESS)  # child: the load
    args = parser.parse_args()
    if args.competing_job:
        return competing_job()
    if args.contender:
        return serve_contender(json.loads(args.contender))
    if args.profile:
        return profile((args.batch or [8])[0], args.profile)
    if args.one:
        print(json.dumps(measure(args.preset[0], args.batch[0], args.ticks, args.tick_iterations, args.device)))
        return
    peer = None
    if not args.no_peer:
        if Path(args.peer).is_file():
            peer = args.peer
        else:
            print(f"no peer: {args.peer} does not exist. For the side-by-side comparison, save {PEER_URL}'s "
                  f"train_golf.py there (outside this repository) or pass --peer PATH; timing ours only.")
    load_job = None
    if args.with_load:
        load_job = subprocess.Popen([sys.executable, __file__, "--competing-job"], env={**os.environ})
        time.sleep(5)  # let it reach its loop
    try:
        device = pick_device(args.device)
        peak = peak_flops(torch.device("cpu"))
        print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, side by side with {args.threads} threads; "
              f"competing job: {'running' if load_job else 'none'}; load average {load_average()}")
        print(f"measured float32 peak (CPU, {torch.get_num_threads()} threads): matmul "
              f"{peak['matmul'] / 1e9:.1f} GFLOP/s, Conv3d {peak['conv3d'] / 1e9:.1f} GFLOP/s")
        for name, _, batch in (item.partition(":") for item in args.layouts or []):
            model = get_preset(name).model
            compare(name, int(batch or get_preset(name).train.batch_size), None, args.rounds,
                    args.iterations * (1 if model.size >= 64 else 10), args.threads, peak["conv3d"], layouts_only=True)
        if args.layouts:
            return
        for batch in args.batch or [8, 16]:
            compare("paper", batch, peer, args.rounds, args.iterations, args.threads, peak["conv3d"],
                    args.peer_with_policy, tuple(args.spin_count))
        # the small preset's many small kernels are where sleeping threads could cost the most
        compare(args.small_preset, get_preset(args.small_preset).train.batch_size, None, args.rounds,
                10 * args.iterations, args.threads, peak["conv3d"], spin_counts=tuple(args.spin_count))
        if not args.no_presets:
            cpu = device.type == "cpu"
            sizes = {"paper": ([8] if cpu else [16, 64]), "cpu": ([32] if cpu else [32, 128, 512]),
                     "demo": ([16] if cpu else [16, 128])}
            conv_peak = peak["conv3d"] if cpu else peak_flops(device)["conv3d"]
            preset_table([(p, b) for p in args.preset or ["paper", "cpu"] for b in sizes[p]],
                         args.ticks, args.tick_iterations, args.device, cpu, conv_peak)
    finally:
        if load_job is not None:
            load_job.terminate()
            load_job.wait()


if __name__ == "__main__":
    main()
