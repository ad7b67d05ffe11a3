"""The paper's baseline (section 3.2) and `videogan baseline train|sample`.

An autoencoder (encoder: the discriminator's layers ending in a z_dim code; decoder: the generator) is
trained to reconstruct clips; then a Gaussian mixture is fitted to the codes of training clips, and a
sample is a code drawn from the mixture, decoded. See docs/baseline.md for the choices the paper
leaves open.

A run folder looks like a GAN run's (config.json, stats.jsonl, checkpoints/, samples/). Checkpoints are
plain data with `kind: "baseline"`, the decoder under `generator` (so every tool that loads a generator
loads it) and, once training has finished, the mixture under `gmm` as plain tensors.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from ..config import ModelConfig, RunConfig, add_config_arguments, replace
from ..data import build_dataset
from ..data.sampler import EpochDataset, ResumableSampler
from ..models import CodeMixture, VideoEncoder, VideoGenerator
from ..models.autoencoder import COVARIANCE_TYPES
from ..runtime import pick_device, setup_runtime
from ..train.checkpoint import (capture_rng, checkpoint_path, config_of, list_checkpoints, load_checkpoint,
                                prune_checkpoints, restore_rng, save_checkpoint)
from ..train.log import RunLog
from ..train.loop import _adam, _loader, _StopRequest, resolve_run
from .sample import VideoSampler, add_sample_arguments, generate, load_sampler, write_grids, write_samples

LOSSES = ("l1", "mse")


@dataclass(frozen=True)
class BaselineConfig:
    loss: str = "l1"  # reconstruction loss: l1 (sharper: the median, not the mean, of what fits) or mse
    gmm_components: int = 256  # the paper's 256
    gmm_covariance: str = "diag"  # scikit-learn covariance_type; see docs/baseline.md for why diag
    gmm_clips: int = 8192  # training clips whose codes the mixture is fitted to

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"--loss must be one of {LOSSES}, got {self.loss!r}")
        if self.gmm_covariance not in COVARIANCE_TYPES:
            raise ValueError(f"--gmm-covariance must be one of {COVARIANCE_TYPES}, got {self.gmm_covariance!r}")
        if self.gmm_components < 1:
            raise ValueError(f"--gmm-components must be positive, got {self.gmm_components}")
        if self.gmm_clips < self.gmm_components:
            raise ValueError(f"--gmm-clips {self.gmm_clips} is fewer than --gmm-components {self.gmm_components}: "
                             "the mixture needs at least one code per component")


def reconstruction_loss(kind: str, video: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over every pixel of |video - target| (l1) or (video - target)^2 (mse); b 3 t h w each."""
    return F.l1_loss(video, target) if kind == "l1" else F.mse_loss(video, target)


def init_autoencoder(model_cfg, seed: int) -> tuple[VideoEncoder, VideoGenerator]:
    """Encoder and decoder with the paper's initialisation, drawn from the run's seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VideoEncoder(model_cfg), VideoGenerator(model_cfg)


def autoencoder_loss(encoder: VideoEncoder, decoder: VideoGenerator, real: torch.Tensor, loss: str,
                     mask_l1: float) -> tuple[torch.Tensor, dict]:
    """Reconstruction loss of real b 3 t h w, plus the two-stream mask prior the GAN's generator also
    pays (lambda * mean m), so that the decoder is the paper's two-stream network trained the same way."""
    parts = decoder(encoder(real), parts=True)
    rec = reconstruction_loss(loss, parts["video"], real)
    mask_mean = parts["mask"].mean()
    return rec + mask_l1 * mask_mean, {"loss_rec": rec.detach(), "mask_mean": mask_mean.detach()}


def check_baseline_model(model: ModelConfig) -> None:
    """The paper's baseline is one model: its decoder "follows the two-stream generator network" of the
    unconditional task. Other configs would train something else under the baseline's name (and a
    future-task checkpoint holding a VideoGenerator that no tool could load), so they are refused."""
    if model.task != "video":
        raise ValueError(f"the baseline is an autoencoder of videos (section 3.2), not of the {model.task!r} task: "
                         "drop --task (or use a preset without the future- prefix)")
    if model.arch != "two_stream":
        raise ValueError(f"the baseline's decoder is the two-stream generator (section 3.2), not {model.arch!r}: "
                         "drop --arch")


def training_clips(config: RunConfig, count: int):
    """The first `count` clips of the run's training order (what its first iterations trained on), as a
    dataset; all of the training set if it is smaller."""
    dataset = build_dataset(config.data, config.model)
    count = min(count, len(dataset))
    keys = list(itertools.islice(iter(ResumableSampler(len(dataset), config.train.seed)), count))
    return Subset(EpochDataset(dataset), keys)


@torch.no_grad()
def encode(encoder: VideoEncoder, decoder: VideoGenerator, clips, config: RunConfig, loss: str, device,
           progress: bool = True) -> tuple[torch.Tensor, float]:
    """Codes n z_dim of the clips (eval mode: BatchNorm running statistics, as at sampling time) and the
    mean reconstruction loss over them."""
    loader = DataLoader(clips, batch_size=config.train.batch_size, num_workers=config.train.workers)
    codes, total = [], 0.0
    for batch in tqdm(loader, desc="encoding clips for the mixture", unit="batch", disable=not progress,
                      dynamic_ncols=True):
        real = batch["video"].to(device)  # b 3 t h w
        code = encoder(real)  # b z_dim
        total += reconstruction_loss(loss, decoder(code), real).item() * len(real)
        codes.append(code.cpu())
    return torch.cat(codes), total / len(clips)


def _check_mixture_data(config: RunConfig, bcfg: BaselineConfig) -> None:
    """Before any training: will there be enough clips for the mixture?"""
    available = len(build_dataset(config.data, config.model))
    if min(available, bcfg.gmm_clips) < bcfg.gmm_components:
        raise ValueError(f"training data {config.data.data!r} has {available} clips, fewer than --gmm-components "
                         f"{bcfg.gmm_components}: the mixture needs at least one code per component")


def train_baseline(config: RunConfig, bcfg: BaselineConfig, run_dir: str | Path, resume: bool = False,
                   progress: bool = True) -> Path:
    """Train the autoencoder, then fit the mixture; returns the final checkpoint.

    A stop by Ctrl-C / SIGTERM saves the autoencoder without a mixture (resume to finish); reaching
    --iterations or --max-minutes ends the training and fits the mixture."""
    check_baseline_model(config.model)
    run_dir = Path(run_dir)
    runtime = setup_runtime(config.train.device)
    if runtime.distributed:
        raise ValueError("baseline train runs as one process: start it without torchrun")
    state = load_checkpoint(list_checkpoints(run_dir)[-1]) if resume else None
    if state is not None:
        if state.get("kind") != "baseline":
            raise ValueError(f"{state['path']}: not a baseline checkpoint (resume a GAN run with `videogan train`)")
        saved_loss = state["baseline"]["loss"]
        if bcfg.loss != saved_loss:
            raise ValueError(f"{state['path']}: the run was trained with --loss {saved_loss}, not {bcfg.loss}")
        config = replace(config_of(state), train={"iterations": config.train.iterations,
                                                  "device": config.train.device, "workers": config.train.workers,
                                                  "max_minutes": config.train.max_minutes})
    tcfg, mcfg = config.train, config.model
    log = RunLog(run_dir)
    if state is not None and state["iteration"] >= tcfg.iterations and "gmm" in state:
        log.line(f"{run_dir}: already trained for {state['iteration']} iterations, mixture fitted")
        return Path(state["path"])
    _check_mixture_data(config, bcfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(
        json.dumps({**config.to_dict(), "baseline": dataclasses.asdict(bcfg)}, indent=2, sort_keys=True))

    device = runtime.device
    encoder, decoder = (net.to(device) for net in init_autoencoder(mcfg, tcfg.seed))
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = _adam(params, tcfg)
    iteration = 0
    if state is not None:
        encoder.load_state_dict(state["encoder"])
        decoder.load_state_dict(state["generator"])
        opt.load_state_dict(state["opt"])
        restore_rng(state["rng"]["global"])
        iteration = state["iteration"]
        log.truncate_after(iteration)
        log.line(f"resumed {state['path']} at iteration {iteration}")

    def save(mixture_state: dict | None = None) -> Path:
        extra = {"gmm": mixture_state} if mixture_state is not None else {}
        path = save_checkpoint(checkpoint_path(run_dir, iteration), {
            "kind": "baseline", "config": config.to_dict(), "baseline": dataclasses.asdict(bcfg),
            "iteration": iteration, "encoder": encoder.state_dict(), "generator": decoder.state_dict(),
            "opt": opt.state_dict(), "rng": {"global": capture_rng()}, **extra,
        })
        prune_checkpoints(run_dir, tcfg.keep_checkpoints)
        return path

    # a fixed batch of training clips, shown next to its reconstructions as training goes
    dataset = build_dataset(config.data, config.model)
    shown = torch.stack([dataset[i]["video"] for i in range(min(16, len(dataset)))])  # 16 3 t h w
    write_grids({"video": shown}, run_dir / "samples", prefix="real_", formats=("gif",))

    def write_reconstructions() -> None:
        encoder.eval()
        with torch.no_grad():
            codes = encoder(shown.to(device))
        write_grids(generate(decoder.eval(), codes), run_dir / "samples", prefix=f"{iteration:07d}_reconstruction_",
                    formats=("gif",))
        encoder.train()
        decoder.train()

    saved_at = iteration if state is not None else None
    if iteration < tcfg.iterations:
        data = iter(_loader(dataset, config, runtime, iteration * tcfg.batch_size))
        bar = tqdm(total=tcfg.iterations, initial=iteration, disable=not progress, unit="it", dynamic_ncols=True)
        tick, tick_start, tick_iters = {}, time.time(), 0
        deadline = time.time() + 60 * tcfg.max_minutes if tcfg.max_minutes > 0 else float("inf")
        with _StopRequest() as stop:
            while iteration < tcfg.iterations and not stop.requested and time.time() < deadline:
                real = next(data)["video"].to(device, non_blocking=True)  # b 3 t h w
                loss, stats = autoencoder_loss(encoder, decoder, real, bcfg.loss, tcfg.mask_l1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                iteration += 1
                bar.update(1)
                for k, v in stats.items():
                    tick[k] = tick.get(k, 0.0) + v
                tick_iters += 1
                if iteration % tcfg.log_every == 0 or iteration == tcfg.iterations:
                    elapsed = time.time() - tick_start
                    record = {k: round(float(v) / tick_iters, 6) for k, v in tick.items()}
                    if not all(math.isfinite(v) for v in record.values()):
                        raise ValueError(f"iteration {iteration}: losses are not finite ({record}); stopping "
                                         f"(the last checkpoint in {run_dir / 'checkpoints'} is intact)")
                    record["videos_per_s"] = round(tick_iters * tcfg.batch_size / elapsed, 2)
                    log.record(iteration, record)
                    tick, tick_start, tick_iters = {}, time.time(), 0
                if iteration % tcfg.sample_every == 0 or iteration == tcfg.iterations:
                    write_reconstructions()
                if iteration % tcfg.checkpoint_every == 0 or iteration == tcfg.iterations:
                    save()
                    saved_at = iteration
            interrupted = stop.requested
        bar.close()
        if saved_at != iteration:  # stopped between checkpoints: keep the progress before anything else
            save()
        if interrupted:
            log.line(f"stopped at iteration {iteration}; continue (and fit the mixture) with "
                     f"`videogan baseline train --resume {run_dir}`")
            return checkpoint_path(run_dir, iteration)
        if iteration < tcfg.iterations:
            log.line(f"--max-minutes {tcfg.max_minutes} reached at iteration {iteration}: fitting the mixture")
            write_reconstructions()

    # the mixture over training codes: the part of the model that replaces the GAN's N(0, I)
    start = time.time()
    clips = training_clips(config, bcfg.gmm_clips)
    codes, loss_eval = encode(encoder.eval(), decoder.eval(), clips, config, bcfg.loss, device, progress)
    mixture = CodeMixture.fit(codes, bcfg.gmm_components, bcfg.gmm_covariance, seed=tcfg.seed)
    path = save(mixture.to_state())
    log.record(iteration, {"gmm_clips": len(codes), "loss_rec_eval": round(loss_eval, 6),
                           "code_std": round(codes.std(0).mean().item(), 6),
                           "gmm_seconds": round(time.time() - start, 1)})
    rng = torch.Generator().manual_seed(tcfg.seed + 10_000)
    write_grids(VideoSampler(decoder, mixture.sample, "gmm").sample(16, rng), run_dir / "samples",
                prefix=f"{iteration:07d}_gmm_", formats=("gif",))
    return path


# ---------------------------------------------------------------------------------------------
# Command line

_BASELINE_FLAGS = {f.name: f for f in dataclasses.fields(BaselineConfig)}


def _baseline_config(args, saved: dict | None) -> BaselineConfig:
    """The saved run's settings (or the defaults) with the flags the user gave applied on top."""
    given = {name: getattr(args, name) for name in _BASELINE_FLAGS if getattr(args, name) is not None}
    return BaselineConfig(**{**(saved or {}), **given})


def _run_train(args) -> int:
    run_dir, config, state = resolve_run(args)
    bcfg = _baseline_config(args, state.get("baseline") if state else None)
    path = train_baseline(config, bcfg, run_dir, resume=state is not None, progress=not args.no_progress)
    print(f"checkpoint: {path}")
    return 0


def _run_sample(args) -> None:
    sampler = load_sampler(args.checkpoint, pick_device(args.device))
    if sampler.prior != "gmm":
        raise ValueError(f"{args.checkpoint}: not a baseline checkpoint (its codes are N(0, I)): use `videogan sample`")
    out = Path(args.out)
    written = write_samples(sampler, out, args.n, args.seed, args.interpolate, args.each, args.fps)
    print(f"wrote {len(written)} files to {out}")


def register(subparsers) -> None:
    parser = subparsers.add_parser("baseline", help="the paper's autoencoder + Gaussian mixture baseline")
    commands = parser.add_subparsers(dest="baseline_command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train the autoencoder, then fit the mixture to training codes")
    train.add_argument("--out", help="run folder for a new run (config, logs, samples, checkpoints)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    train.add_argument("--no-progress", action="store_true", help="no progress bars (log lines only)")
    group = train.add_argument_group("baseline config")
    group.add_argument("--loss", choices=LOSSES, default=None, help="reconstruction loss (default l1)")
    group.add_argument("--gmm-components", type=int, default=None, help="mixture components (default 256)")
    group.add_argument("--gmm-covariance", choices=COVARIANCE_TYPES, default=None,
                       help="covariance type of each component (default diag)")
    group.add_argument("--gmm-clips", type=int, default=None,
                       help="training clips encoded for the mixture (default 8192)")
    add_config_arguments(train)
    train.set_defaults(func=_run_train)

    sample = commands.add_parser("sample", help="videos decoded from codes drawn from the mixture")
    add_sample_arguments(sample)
    sample.set_defaults(func=_run_sample)
