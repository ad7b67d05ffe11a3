"""The one training loop behind every model the project trains: the GAN (video and future tasks, gan.py)
and the autoencoder baseline (tasks/baseline.py).

What differs between them is a `TrainingTask`: its networks, optimisers and one iteration's step. The
loop owns what must behave the same for all of them: data (clips cross the loader as uint8 and are
normalised on the device), numeric precision, data-parallel ranks (distributed.py), stops agreed by
all ranks (Ctrl-C / SIGTERM, --max-minutes, non-finite losses), logging, checkpoints and resuming.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..checkpoint import (capture_rng, checkpoint_path, config_of, list_checkpoints, load_optimizer, load_weights,
                         prune_checkpoints, require, restore_rng, save_checkpoint)
from ..config import RunConfig
from ..data import build_dataset
from ..data.clips import clip_bytes
from ..data.sampler import EpochDataset, ResumableSampler
from ..data.streaming import StreamedShards, StreamLoader
from ..files import write_atomic
from ..runtime import Runtime, close_runtime, setup_runtime
from ..stop_signals import StopNow, StopRequest, helper_loader_options
from .agreement import agreed_resume_state, check_same_start
from .distributed import StopVote, average_buffers, average_gradients
from .log import RunLog
from .run_dir import changed_machine, edited_settings, resume_hint

# Settings of how a run is executed, which `--resume` takes from the command line; every other setting
# is the run's recipe (model, data, optimiser, batch, seed) and stays as saved.
RUN_TIME_FIELDS = ("iterations", "max_minutes", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints",
                   "workers", "device", "precision", "channels_last", "compile")
# A tick that spends more than this share of its time waiting for clips is starved by the loader.
LOADER_BOUND_SHARE = 0.3


class NonFiniteLoss(ValueError):
    """Training diverged: nothing is saved, the last checkpoint stays the run's latest."""


class TrainingTask(Protocol):
    """What a model brings to the loop. `networks` and `optimizers` map checkpoint keys to the modules
    (on the run's device) and their optimisers; the loop saves and restores them."""

    networks: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def step(self, real: torch.Tensor, iteration: int, context: "StepContext") -> dict[str, torch.Tensor]:
        """One iteration on real b 3 t h w (in [-1, 1], on the device); returns detached statistics."""

    def write_samples(self, out_dir: Path, iteration: int) -> dict:
        """Progress samples (rank 0 only; BatchNorm statistics already averaged over the ranks); returns
        their streams as `models.sampler.generate` gives them (for TensorBoard)."""

    def checkpoint_extras(self) -> dict:
        """Further plain-data checkpoint entries (e.g. the baseline's `kind`)."""

    def start_warnings(self) -> list[str]:
        """What the run log says once before a new run's first step (e.g. clips too still for the model)."""


@dataclass(frozen=True)
class StepContext:
    """What a task's step asks of the loop: forward passes at the run's precision, and updates whose
    gradients are averaged over the ranks."""

    runtime: Runtime
    precision: str  # fp32, tf32 or bf16 (resolved)

    def autocast(self):
        """bf16: convolutions run in bfloat16; parameters, BatchNorm's statistics, the losses (computed
        from float32 casts) and the optimiser state stay float32, so no loss scaling is needed."""
        if self.precision == "bf16":
            return torch.autocast(self.runtime.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, network: nn.Module) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(network, self.runtime)
        optimizer.step()


@dataclass(frozen=True)
class TrainingOutcome:
    iteration: int
    checkpoint: Path | None  # the latest checkpoint (None on ranks > 0)
    stop: str | None  # None: --iterations reached; "signal" (Ctrl-C / SIGTERM) or "deadline" (--max-minutes)


def adam(params, cfg) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))


def resumed_config(saved: RunConfig, given: RunConfig) -> RunConfig:
    """The saved config with `given`'s run-time settings; a recipe setting that differs is refused with
    one line naming the flags (change the recipe in a new run)."""
    changed = []
    for section in ("model", "train", "data"):
        old, new = getattr(saved, section), getattr(given, section)
        for f in dataclasses.fields(old):
            runtime_field = section == "train" and f.name in RUN_TIME_FIELDS
            if not runtime_field and getattr(old, f.name) != getattr(new, f.name):
                changed.append(f"--{f.name.replace('_', '-')} {getattr(new, f.name)} (run: {getattr(old, f.name)})")
    if changed:
        allowed = ", ".join("--" + name.replace("_", "-") for name in RUN_TIME_FIELDS)
        raise ValueError(f"--resume keeps the run's recipe; drop {', '.join(changed)} or start a new run with --out "
                         f"(flags that apply on resume: {allowed})")
    return dataclasses.replace(saved, train=dataclasses.replace(
        saved.train, **{name: getattr(given.train, name) for name in RUN_TIME_FIELDS}))


def machine_record(device: torch.device) -> dict:
    """What a run's numbers hang on besides code, data and seed: the CPU's thread count and instruction set
    change the order of float sums, and a GAN's training follows the difference (README, "bit for bit")."""
    return {"cpu_threads": torch.get_num_threads(), "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__, "device": str(device)}


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto`: tf32 on CUDA (cuDNN's own default for convolutions), fp32 on the CPU, where bf16 has not
    been shown to learn as well and run faster (docs/performance.md)."""
    if precision == "auto":
        return "tf32" if device.type == "cuda" else "fp32"
    return precision


def configure_kernels(precision: str, device: torch.device) -> None:
    """Process-wide kernel choices for training on `device` at `precision` (resolved)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes every iteration: pick the fastest kernels once
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"


def loader_workers(value: str | int, world_size: int = 1) -> int:
    """`--workers`: a number, or auto: the CPUs this rank may use, less one for the training process
    itself, at most 8."""
    if str(value) == "auto":
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, min(8, cpus // world_size - 1))
    try:
        workers = int(value)
    except ValueError:
        raise ValueError(f"--workers must be a number or auto, got {value!r}") from None
    if workers < 0:
        raise ValueError(f"--workers must be 0 or more, got {workers}")
    return workers


class _ClipBytes(Dataset):
    """Clips as 3 t h w uint8: a quarter of float32's bytes through the loader's queues and the copy to
    the device, where `clips_on_device` restores [-1, 1] (to 1/255, the precision of video files)."""

    def __init__(self, dataset: Dataset):
        self.items = EpochDataset(dataset)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key) -> torch.Tensor:
        return clip_bytes(self.items[key]["video"])


def training_loader(dataset: Dataset, config: RunConfig, runtime: Runtime, start_sample: int,
                    position: dict | None = None) -> DataLoader | StreamLoader:
    workers = loader_workers(config.train.workers, runtime.world_size)
    if isinstance(dataset, StreamedShards):  # shards at a URL: read in order, resumed from `position`
        return StreamLoader(dataset, config.train.batch_size, workers, runtime.rank, runtime.world_size,
                            runtime.device.type == "cuda", position)
    sampler = ResumableSampler(len(dataset), config.train.seed, runtime.rank, runtime.world_size, start_sample)
    return DataLoader(_ClipBytes(dataset), batch_size=config.train.batch_size, sampler=sampler,
                      drop_last=True, pin_memory=runtime.device.type == "cuda", persistent_workers=workers > 0,
                      prefetch_factor=4 if workers > 0 else None, **helper_loader_options(workers))


def clips_on_device(batch: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """b 3 t h w uint8 -> float in [-1, 1] on the device (the copy does not block the host)."""
    real = batch.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
    return real.contiguous(memory_format=torch.channels_last_3d) if channels_last else real


def resolve_channels_last(setting: str, device: torch.device) -> bool:
    """`auto`: channels_last_3d on the CPU, where oneDNN's 3-D convolutions and their gradients run faster in it
    (the presets where it did not measured faster say off; docs/performance.md); contiguous on CUDA and MPS,
    where no measurement has shown it faster."""
    return setting == "on" or (setting == "auto" and device.type == "cpu")


def prepare_networks(networks: dict[str, nn.Module], config: RunConfig, device: torch.device) -> None:
    """Memory format and compilation the config asks for on `device`, applied in place (checkpoint keys
    unchanged)."""
    for network in networks.values():
        if resolve_channels_last(config.train.channels_last, device):
            for param in network.parameters():  # the 3-D layers' weights (the background stream's are 2-D)
                if param.dim() == 5:
                    param.data = param.data.contiguous(memory_format=torch.channels_last_3d)
        if config.train.compile:
            network.compile()


def batch_semantics(config: RunConfig, runtime: Runtime) -> dict:
    """How the batch of one iteration is made up; the paper's recipe is a global batch of 64 with
    BatchNorm statistics over all 64 clips."""
    per_rank = config.train.batch_size
    synced = config.train.sync_bn and runtime.distributed
    return {"world_size": runtime.world_size, "batch_per_rank": per_rank,
            "global_batch": per_rank * runtime.world_size,
            "batch_norm_clips": per_rank * runtime.world_size if synced else per_rank}


def checkpoint_state(task: TrainingTask, config: RunConfig, iteration: int, world_size: int) -> dict:
    """A checkpoint's plain data (under torchrun: after `average_buffers` on every rank)."""
    return {"config": config.to_dict(), "iteration": iteration, "world_size": world_size,
            **{key: net.state_dict() for key, net in task.networks.items()},
            **{key: opt.state_dict() for key, opt in task.optimizers.items()},
            "rng": {"global": capture_rng()}, **task.checkpoint_extras()}


def _average_task_buffers(task: TrainingTask, runtime: Runtime) -> None:
    for network in task.networks.values():
        average_buffers(network, runtime)


def latest_state(run_dir: Path, resume: bool) -> dict | None:
    """The checkpoint to resume from: the newest that loads (a damaged newer one is set aside, with a message);
    under torchrun the one rank 0 chose."""
    return agreed_resume_state(run_dir) if resume else None


def run_task(make_task: Callable[[RunConfig, Runtime, Dataset], TrainingTask], config: RunConfig, run_dir: Path,
             state: dict | None = None, progress: bool = True, kind: str | None = None,
             config_extras: dict | None = None) -> tuple[TrainingOutcome, TrainingTask, RunConfig]:
    """Train the task `make_task` builds, from scratch or from `state` (a checkpoint of the same `kind`),
    under torchrun or in one process; returns (outcome, task, the config it ran)."""
    run_dir = Path(run_dir)
    runtime = setup_runtime(config.train.device)
    try:
        if state is not None:
            require(state, "iteration", "rng", purpose="a resume")
            if state.get("kind") != kind:
                found = state.get("kind") or "GAN"
                raise ValueError(f"{state['path']}: a {found} checkpoint, not a {kind or 'GAN'} one: resume it with "
                                 f"{'`videogan train`' if found == 'GAN' else f'`videogan {found} train`'}")
            config = resumed_config(config_of(state), config)
            if state.get("world_size", 1) != runtime.world_size:
                raise ValueError(f"{state['path']}: the run was trained on {state.get('world_size', 1)} rank(s); "
                                 f"resume it on as many (its global batch and BatchNorm statistics depend on it)")
        workers = loader_workers(config.train.workers, runtime.world_size)  # a bad value fails before any write
        log = RunLog(run_dir, enabled=runtime.is_main)
        semantics = batch_semantics(config, runtime)
        precision = resolve_precision(config.train.precision, runtime.device)
        configure_kernels(precision, runtime.device)
        channels_last = resolve_channels_last(config.train.channels_last, runtime.device)
        memory_format = "channels_last_3d" if channels_last else "contiguous"
        dataset = build_dataset(config.data, config.model)
        task = make_task(config, runtime, dataset)
        iteration = 0
        if state is not None:  # loaded into the task before anything in the run folder changes
            for key, network in task.networks.items():
                load_weights(state, key, network)
            for key, optimizer in task.optimizers.items():
                load_optimizer(state, key, optimizer)
            restore_rng(state["rng"]["global"])
            iteration = state["iteration"]
        check_same_start(config, task.networks)
        machine = machine_record(runtime.device)
        resumed_main = state is not None and runtime.is_main
        edited = edited_settings(run_dir, config.to_dict(), RUN_TIME_FIELDS) if resumed_main else []
        moved = changed_machine(run_dir, machine) if resumed_main else []
        if runtime.is_main:
            write_atomic(run_dir / "config.json", json.dumps(
                {**config.to_dict(), "distributed": semantics, "machine": machine, **(config_extras or {})},
                indent=2, sort_keys=True))
        if state is not None:
            log.truncate_after(iteration)
            log.line(f"resumed {state['path']} at iteration {iteration}")
            if edited:
                log.line(f"warning: {run_dir / 'config.json'} was edited: {', '.join(edited)}; a resume runs the "
                         "checkpoint's recipe and rewrites the file (change the recipe in a new run with --out, "
                         "run-time settings with flags)")
            if moved:
                log.line(f"note: this resume runs on another machine setup than the run so far ({', '.join(moved)}): "
                         "it continues from the checkpoint, but not bit for bit as the run would have")
        if iteration >= config.train.iterations:
            log.line(resume_hint(run_dir, iteration, config.train.iterations))
            latest = list_checkpoints(run_dir)[-1] if runtime.is_main else None
            return TrainingOutcome(iteration, latest, None), task, config
        log.line(f"global batch {semantics['global_batch']} = {runtime.world_size} rank(s) x "
                 f"{semantics['batch_per_rank']} clips; BatchNorm statistics over {semantics['batch_norm_clips']} "
                 f"clips; precision {precision}; {memory_format} memory format; {workers} loader worker(s); "
                 f"{machine['cpu_threads']} CPU thread(s), {machine['cpu_kernels']} kernels")
        if state is None and runtime.is_main:
            for warning in task.start_warnings():
                log.line(f"warning: {warning}")
        position = state.get("data_position") if state is not None else None
        context = StepContext(runtime, precision)
        outcome = _fit(task, config, run_dir, runtime, dataset, iteration, context, log, progress, position)
        return outcome, task, config
    finally:
        close_runtime(runtime, finished=sys.exc_info()[0] is None)  # after an error a rank may be alone


def _fit(task: TrainingTask, config: RunConfig, run_dir: Path, runtime: Runtime, dataset: Dataset, iteration: int,
         context: StepContext, log: RunLog, progress: bool, position: dict | None) -> TrainingOutcome:
    tcfg = config.train
    channels_last = resolve_channels_last(tcfg.channels_last, runtime.device)

    def save() -> Path | None:
        state = checkpoint_state(task, config, iteration, runtime.world_size)
        if isinstance(loader, StreamLoader):
            state["data_position"] = loader.position()  # every rank's streams (a collective call)
        if not runtime.is_main:
            return None
        path = save_checkpoint(checkpoint_path(run_dir, iteration), state)
        prune_checkpoints(run_dir, tcfg.keep_checkpoints)
        return path

    loader = training_loader(dataset, config, runtime, iteration * tcfg.batch_size, position)
    vote = StopVote(runtime)
    bar = tqdm(total=tcfg.iterations, initial=iteration, disable=not (progress and runtime.is_main),
               unit="it", dynamic_ncols=True)
    tick, counts, tick_start, tick_iters, waited = {}, {}, time.perf_counter(), 0, 0.0
    last_saved, saved_at, warned, stop = None, iteration, False, None
    deadline = time.time() + 60 * tcfg.max_minutes if tcfg.max_minutes > 0 else float("inf")
    started_at = iteration
    with StopRequest() as request:
        data = iter(loader)  # starts the workers: a stop request from here on is honoured
        # one process may give up waiting for its batch; ranks must not, or they would disagree on the next
        # collective (a rank's stop reaches the others through the vote)
        waiting = request.interruptible if not runtime.distributed else nullcontext
        while iteration < tcfg.iterations:
            stop = vote.agree(signal=bool(request.requested), deadline=time.time() >= deadline)
            if stop:
                break
            wait_start = time.perf_counter()
            try:
                with waiting():
                    batch = next(data)  # b 3 t h w uint8
            except StopNow:
                stop = "signal"
                break
            waited += time.perf_counter() - wait_start
            stats = task.step(clips_on_device(batch, runtime.device, channels_last), iteration, context)
            iteration += 1
            bar.update(1)
            for k, v in stats.items():  # a statistic of some steps only (lazy R1) is averaged over those
                tick[k], counts[k] = tick.get(k, 0.0) + v, counts.get(k, 0) + 1
            tick_iters += 1
            if iteration % tcfg.log_every == 0 or iteration == tcfg.iterations:
                # statistics stay on the device between ticks: one synchronisation per tick, not per step
                record = {k: round(float(v) / counts[k], 6) for k, v in tick.items()}
                if vote.agree(nonfinite=not all(math.isfinite(v) for v in record.values())):
                    bar.close()
                    raise NonFiniteLoss(f"iteration {iteration}: losses are not finite ({record}); stopped without "
                                        f"saving (the last checkpoint in {run_dir / 'checkpoints'} is intact)")
                elapsed = time.perf_counter() - tick_start
                record["videos_per_s"] = round(tick_iters * tcfg.batch_size * runtime.world_size / elapsed, 2)
                record["data_wait_s"] = round(waited, 3)  # time the loop waited for the loader in this tick
                if waited > LOADER_BOUND_SHARE * elapsed and not warned and iteration > tcfg.log_every:
                    warned = True
                    log.line(f"warning: the loop waited {100 * waited / elapsed:.0f}% of the time for data: the loader "
                             "is the bottleneck (more --workers, or `videogan prepare` the footage into shards)")
                log.record(iteration, record)
                tick, counts, tick_start, tick_iters, waited = {}, {}, time.perf_counter(), 0, 0.0
            sample_due = iteration % tcfg.sample_every == 0 or iteration == tcfg.iterations
            checkpoint_due = iteration % tcfg.checkpoint_every == 0 or iteration == tcfg.iterations
            if sample_due or checkpoint_due:
                _average_task_buffers(task, runtime)
            if sample_due and runtime.is_main:
                log.samples(iteration, task.write_samples(run_dir / "samples", iteration))
            if checkpoint_due:
                last_saved, saved_at = save(), iteration
        cause = (request.requested or "a stop signal") if stop == "signal" else f"--max-minutes {tcfg.max_minutes:g}"
        if saved_at != iteration:  # stopped early: keep the progress
            log.line(f"stopped at iteration {iteration} ({cause}): saving a checkpoint")
            _average_task_buffers(task, runtime)
            last_saved = save()
        elif stop and iteration == started_at:
            log.line(f"stopped before its first iteration ({cause}): nothing new to save"
                     + ("" if started_at else "; this run has no checkpoint, start it again with the same command"))
    bar.close()
    if last_saved is None and runtime.is_main:
        last_saved = list_checkpoints(run_dir)[-1] if list_checkpoints(run_dir) else None
    return TrainingOutcome(iteration, last_saved, stop)
