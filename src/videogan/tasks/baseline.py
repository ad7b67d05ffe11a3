"""The paper's baseline (section 3.2), which `videogan baseline train|sample` runs.

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
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from ..checkpoint import checkpoint_path, prune_checkpoints, save_checkpoint
from ..config import ModelConfig, RunConfig
from ..data import build_dataset
from ..data.sampler import EpochDataset, ResumableSampler
from ..models import CodeMixture, VideoEncoder, VideoGenerator
from ..models.autoencoder import COVARIANCE_TYPES
from ..models.sampler import VideoSampler, generate
from ..runtime import Runtime
from ..stop_signals import helper_loader_options
from ..train.distributed import with_sync_batchnorm
from ..train.log import RunLog
from ..train.media import write_grids
from ..train.training_loop import StepContext, adam, checkpoint_state, latest_state, loader_workers, prepare_networks, run_task

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
    loader = DataLoader(clips, batch_size=config.train.batch_size,
                        **helper_loader_options(loader_workers(config.train.workers)))
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


class BaselineTask:
    """The autoencoder as a task of the shared training loop: one reconstruction update per iteration."""

    def __init__(self, config: RunConfig, bcfg: BaselineConfig, runtime: Runtime, dataset):
        tcfg = config.train
        self.bcfg, self.mask_l1, self.device = bcfg, tcfg.mask_l1, runtime.device
        encoder, decoder = init_autoencoder(config.model, tcfg.seed)
        if tcfg.sync_bn:
            encoder, decoder = (with_sync_batchnorm(net, runtime) for net in (encoder, decoder))
        self.encoder, self.decoder = encoder.to(runtime.device), decoder.to(runtime.device)
        self.networks = {"encoder": self.encoder, "generator": self.decoder}  # the decoder is a generator to every tool
        self.autoencoder = torch.nn.ModuleList([self.encoder, self.decoder])  # one optimiser, one gradient all-reduce
        self.opt = adam(self.autoencoder.parameters(), tcfg)
        self.world_size = runtime.world_size
        self.optimizers = {"opt": self.opt}
        prepare_networks(self.networks, config, runtime.device)
        # a fixed batch of training clips, shown next to its reconstructions as training goes
        self.shown = torch.stack([dataset[i]["video"] for i in range(min(16, len(dataset)))])  # 16 3 t h w

    def step(self, real: torch.Tensor, iteration: int, context: StepContext) -> dict[str, torch.Tensor]:
        with context.autocast():
            loss, stats = autoencoder_loss(self.encoder, self.decoder, real, self.bcfg.loss, self.mask_l1)
        context.update(loss, self.opt, self.autoencoder)
        return stats

    def write_samples(self, out_dir: Path, iteration: int) -> dict:
        if not (out_dir / "real_videos.gif").exists():  # what the reconstructions are compared with
            write_grids({"video": self.shown}, out_dir, prefix="real_", formats=("gif",))
        self.encoder.eval()
        with torch.no_grad():
            codes = self.encoder(self.shown.to(self.device))
        parts = generate(self.decoder.eval(), codes)
        write_grids(parts, out_dir, prefix=f"{iteration:07d}_reconstruction_", formats=("gif",))
        self.encoder.train()
        self.decoder.train()
        return parts

    def checkpoint_extras(self) -> dict:
        return {"kind": "baseline", "baseline": dataclasses.asdict(self.bcfg)}

    def start_warnings(self) -> list[str]:
        return []


def train_baseline(config: RunConfig, bcfg: BaselineConfig, run_dir: str | Path, resume: bool = False,
                   progress: bool = True, state: dict | None = None) -> Path | None:
    """Train the autoencoder, then fit the mixture; returns the final checkpoint (None on ranks > 0). With
    `resume`, from `state` when the caller has loaded the run's checkpoint already, else from its latest.

    A stop by Ctrl-C / SIGTERM saves the autoencoder without a mixture (resume to finish); reaching
    --iterations or --max-minutes ends the training and fits the mixture."""
    check_baseline_model(config.model)
    run_dir = Path(run_dir)
    state = state if state is not None or not resume else latest_state(run_dir, resume)
    if state is not None and state.get("kind") == "baseline":
        saved_loss = state["baseline"]["loss"]
        if bcfg.loss != saved_loss:
            raise ValueError(f"{state['path']}: the run was trained with --loss {saved_loss}, not {bcfg.loss}")
        if state["iteration"] >= config.train.iterations and "gmm" in state:
            RunLog(run_dir).line(f"{run_dir}: already trained for {state['iteration']} iterations, mixture fitted")
            return Path(state["path"])
    _check_mixture_data(config, bcfg)
    outcome, task, config = run_task(lambda c, runtime, dataset: BaselineTask(c, bcfg, runtime, dataset), config,
                                     run_dir, state, progress, kind="baseline",
                                     config_extras={"baseline": dataclasses.asdict(bcfg)})
    if outcome.checkpoint is None:  # ranks > 0: rank 0 fits the mixture
        return None
    if outcome.stop == "signal":
        RunLog(run_dir).line(f"stopped at iteration {outcome.iteration}; continue (and fit the mixture) with "
                             f"`videogan baseline train --resume {run_dir}`")
        return outcome.checkpoint
    return _fit_mixture(task, config, bcfg, run_dir, outcome, progress)


def _fit_mixture(task: BaselineTask, config: RunConfig, bcfg: BaselineConfig, run_dir: Path, outcome,
                 progress: bool) -> Path:
    """The mixture over training codes: the part of the model that replaces the GAN's N(0, I)."""
    log, iteration = RunLog(run_dir), outcome.iteration
    log.continue_time()
    if outcome.stop == "deadline":
        log.line(f"--max-minutes {config.train.max_minutes} reached at iteration {iteration}: fitting the mixture")
        task.write_samples(run_dir / "samples", iteration)
    start = time.time()
    clips = training_clips(config, bcfg.gmm_clips)
    codes, loss_eval = encode(task.encoder.eval(), task.decoder.eval(), clips, config, bcfg.loss, task.device,
                              progress)
    mixture = CodeMixture.fit(codes, bcfg.gmm_components, bcfg.gmm_covariance, seed=config.train.seed)
    state = checkpoint_state(task, config, iteration, task.world_size)
    path = save_checkpoint(checkpoint_path(run_dir, iteration), {**state, "gmm": mixture.to_state()})
    prune_checkpoints(run_dir, config.train.keep_checkpoints)
    log.record(iteration, {"gmm_clips": len(codes), "loss_rec_eval": round(loss_eval, 6),
                           "code_std": round(codes.std(0).mean().item(), 6),
                           "gmm_seconds": round(time.time() - start, 1)})
    rng = torch.Generator().manual_seed(config.train.seed + 10_000)
    write_grids(VideoSampler(task.decoder, mixture.sample, "gmm").sample(16, rng), run_dir / "samples",
                prefix=f"{iteration:07d}_gmm_", formats=("gif",))
    return path
