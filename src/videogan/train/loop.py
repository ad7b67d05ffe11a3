"""The training loop (section 2.3) and `videogan train`.

Each iteration: a D step on a real and a fake batch, then a G step on the same fake batch (as in
DCGAN.torch, on which the released code is built). Ctrl-C or SIGTERM saves a checkpoint and exits;
`--resume RUN_DIR` continues bit-for-bit on the CPU.
"""
from __future__ import annotations

import math
import signal
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..config import RunConfig, add_config_arguments, config_from_args, replace
from ..data import build_dataset
from ..data.sampler import EpochDataset, ResumableSampler
from ..models import VideoDiscriminator, build_generator, generator_inputs
from ..runtime import Runtime, setup_runtime
from ..tasks.sample import generate, write_grids
from .checkpoint import (capture_rng, checkpoint_path, config_of, list_checkpoints, load_checkpoint, load_latest,
                         prune_checkpoints, restore_rng, save_checkpoint)
from .log import RunLog
from .loss import VideoGANLoss
from .run_dir import clip_size_note, prepare_run_dir, removed_if_start_fails, resume_hint


class _StopRequest:
    """Turns Ctrl-C / SIGTERM into a flag the loop checks between iterations, so a checkpoint is
    written from a consistent state instead of mid-step."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C means "now"
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _adam(params, cfg) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))


def init_networks(model_cfg, seed: int) -> tuple[torch.nn.Module, VideoDiscriminator]:
    """The task's G and D with the paper's initialisation, drawn from the run's seed (every rank starts equal)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_generator(model_cfg), VideoDiscriminator(model_cfg)


def _unwrap(module):
    return module.module if isinstance(module, DistributedDataParallel) else module


def _loader(dataset, config: RunConfig, runtime: Runtime, start_sample: int) -> DataLoader:
    sampler = ResumableSampler(len(dataset), config.train.seed, runtime.rank, runtime.world_size, start_sample)
    workers = config.train.workers
    return DataLoader(EpochDataset(dataset), batch_size=config.train.batch_size, sampler=sampler, num_workers=workers,
                      drop_last=True, pin_memory=runtime.device.type == "cuda", persistent_workers=workers > 0,
                      prefetch_factor=4 if workers > 0 else None)


def train(config: RunConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path | None:
    """Train the video GAN of the config's task (G(z), or G(first frame) for `future`); returns the last
    checkpoint written (None on ranks > 0)."""
    run_dir = Path(run_dir)
    runtime = setup_runtime(config.train.device)
    state = load_checkpoint(list_checkpoints(run_dir)[-1]) if resume else None
    if state is not None:
        # the saved config rules, except how long to train and how to run
        saved = config_of(state)
        config = replace(saved, train={"iterations": config.train.iterations, "device": config.train.device,
                                       "workers": config.train.workers, "max_minutes": config.train.max_minutes})
    tcfg, mcfg = config.train, config.model
    log = RunLog(run_dir, enabled=runtime.is_main)
    if runtime.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(config.to_json())

    device = runtime.device
    generator, discriminator = (net.to(device) for net in init_networks(mcfg, tcfg.seed))
    opt_g, opt_d = _adam(generator.parameters(), tcfg), _adam(discriminator.parameters(), tcfg)
    # noise comes from this run's own generator, seeded per rank, drawn on the CPU so that a CPU
    # and a GPU run see the same codes
    z_rng = torch.Generator().manual_seed(tcfg.seed * 1000 + runtime.rank)
    iteration = 0
    if state is not None:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        z_rng.set_state(state["rng"]["z"])
        restore_rng(state["rng"]["global"])
        iteration = state["iteration"]
        log.truncate_after(iteration)
        log.line(f"resumed {state['path']} at iteration {iteration}")
    if runtime.distributed:
        generator = DistributedDataParallel(generator)
        discriminator = DistributedDataParallel(discriminator)
    future = mcfg.task == "future"
    # the mask prior belongs to the video task's objective; equation 3 (future) has none
    loss = VideoGANLoss(discriminator, tcfg.mask_l1 if not future else 0.0, tcfg.first_frame_weight,
                        tcfg.first_frame_loss)
    dataset = build_dataset(config.data, mcfg)
    # progress samples: 16 fixed codes, or for the future task the first frames of the first 16 clips
    fixed_videos = torch.stack([dataset[i]["video"] for i in range(min(16, len(dataset)))]) if future else None
    fixed_inputs = generator_inputs(mcfg, torch.Generator().manual_seed(tcfg.seed + 10_000),
                                    16 if not future else len(fixed_videos), fixed_videos)

    def save() -> Path | None:
        if not runtime.is_main:
            return None
        path = save_checkpoint(checkpoint_path(run_dir, iteration), {
            "config": config.to_dict(), "iteration": iteration,
            "generator": _unwrap(generator).state_dict(), "discriminator": _unwrap(discriminator).state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "rng": {"z": z_rng.get_state(), "global": capture_rng()},
        })
        prune_checkpoints(run_dir, tcfg.keep_checkpoints)
        return path

    if iteration >= tcfg.iterations:
        log.line(f"{run_dir}: already trained for {iteration} iterations (--iterations {tcfg.iterations})")
        return list_checkpoints(run_dir)[-1] if runtime.is_main else None

    data = iter(_loader(dataset, config, runtime, iteration * tcfg.batch_size))
    bar = tqdm(total=tcfg.iterations, initial=iteration, disable=not (progress and runtime.is_main),
               unit="it", dynamic_ncols=True)
    tick, tick_start, tick_iters = {}, time.time(), 0
    last_saved, saved_at = None, iteration
    with _StopRequest() as stop:
        deadline = time.time() + 60 * tcfg.max_minutes if tcfg.max_minutes > 0 else float("inf")
        while iteration < tcfg.iterations and not stop.requested and time.time() < deadline:
            real = next(data)["video"].to(device, non_blocking=True)  # b 3 t h w
            inputs = generator_inputs(mcfg, z_rng, tcfg.batch_size, real)
            parts = generator(*inputs, parts=True)

            d_loss, d_stats = loss.discriminator_loss(real, parts["video"])
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()

            # D's weights need no gradient in the G step; the unwrapped D also skips DDP's all-reduce
            _unwrap(discriminator).requires_grad_(False)
            g_loss, g_stats = loss.generator_loss(parts, _unwrap(discriminator), inputs[0] if future else None)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            _unwrap(discriminator).requires_grad_(True)

            iteration += 1
            bar.update(1)
            for k, v in {**d_stats, **g_stats}.items():
                tick[k] = tick.get(k, 0.0) + v
            tick_iters += 1
            if iteration % tcfg.log_every == 0 or iteration == tcfg.iterations:
                # statistics stay on the device between ticks: one synchronisation per tick, not per step
                elapsed = time.time() - tick_start
                record = {k: round(float(v) / tick_iters, 6) for k, v in tick.items()}
                if not all(math.isfinite(v) for v in record.values()):
                    log.line(f"iteration {iteration}: losses are not finite ({record}); stopping without saving")
                    saved_at = iteration
                    break
                record["videos_per_s"] = round(tick_iters * tcfg.batch_size * runtime.world_size / elapsed, 2)
                log.record(iteration, record)
                tick, tick_start, tick_iters = {}, time.time(), 0
            if runtime.is_main and (iteration % tcfg.sample_every == 0 or iteration == tcfg.iterations):
                _unwrap(generator).eval()
                progress_parts = generate(_unwrap(generator), fixed_inputs)
                write_grids(progress_parts, run_dir / "samples", prefix=f"{iteration:07d}_", formats=("gif",))
                log.samples(iteration, progress_parts)
                _unwrap(generator).train()
            if iteration % tcfg.checkpoint_every == 0 or iteration == tcfg.iterations:
                last_saved, saved_at = save(), iteration
        if saved_at != iteration:  # stopped early: keep the progress
            log.line(f"stopped at iteration {iteration}: saving a checkpoint")
            last_saved = save()
    bar.close()
    return last_saved


def resolve_run(args) -> tuple[Path, RunConfig, dict | None]:
    """(run folder, config, latest checkpoint or None) for `--out NEW` or `--resume RUN_DIR`; flags given
    on the command line apply on top of the preset, or of the saved config when resuming."""
    if args.resume:
        run_dir = Path(args.resume)
        if not list_checkpoints(run_dir):
            raise FileNotFoundError(f"{run_dir}: nothing to resume (no checkpoints in {run_dir / 'checkpoints'})")
        prepare_run_dir(run_dir)
        state = load_latest(run_dir, set_aside=True)
        config = config_from_args(args, base=config_of(state))
        if hint := resume_hint(run_dir, state["iteration"], config.train.iterations):
            print(hint)
        return run_dir, config, state
    if args.out is None:
        raise ValueError("give --out RUN_DIR for a new run, or --resume RUN_DIR to continue one")
    run_dir = Path(args.out)
    if list_checkpoints(run_dir):
        raise ValueError(f"{run_dir} already holds a run: continue it with --resume {run_dir}, or choose "
                         "another --out")
    prepare_run_dir(run_dir)
    config = config_from_args(args)
    if note := clip_size_note(config, args):
        print(note)
    return run_dir, config, None


def run(args) -> int:
    run_dir, config, state = resolve_run(args)
    with removed_if_start_fails(run_dir):
        last = train(config, run_dir, resume=state is not None, progress=not args.no_progress)
    if last is not None:  # rank 0
        from ..tasks.report import write_report  # the CLI's step, above the loop's layer

        print(f"report: {write_report(run_dir)}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train the video GAN (default data: the built-in dataset)")
    parser.add_argument("--out", help="run folder for a new run (config, logs, samples, checkpoints)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    add_config_arguments(parser)
    parser.set_defaults(func=run)
