"""The video GAN's training (section 2.3): the GAN task that `videogan train` runs.

Each iteration: a D step on a real and a fake batch, then a G step on the same fake batch (as in
DCGAN.torch, on which the released code is built). The loop around it (training_loop.py) is shared with the
baseline: Ctrl-C or SIGTERM saves a checkpoint and exits; `--resume RUN_DIR` continues bit-for-bit on
the CPU; under torchrun the ranks average gradients and agree on when to stop (distributed.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import RunConfig
from ..data.motion import stillness_warning
from ..models import VideoDiscriminator, build_generator, generator_inputs
from ..models.memory import check_fits, training_bytes
from ..models.sampler import generate
from ..runtime import Runtime
from .augment import mirror
from .distributed import with_sync_batchnorm
from .ema import GeneratorAverage
from .loss import VideoGANLoss
from .media import write_grids
from .training_loop import StepContext, adam, latest_state, prepare_networks, run_task


def init_networks(model_cfg, seed: int) -> tuple[torch.nn.Module, VideoDiscriminator]:
    """The task's G and D with the paper's initialisation, drawn from the run's seed (every rank starts equal)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_generator(model_cfg), VideoDiscriminator(model_cfg)


def noise_stream(seed: int, rank: int, iteration: int, purpose: int = 0) -> torch.Generator:
    """The CPU generator of one rank's codes (purpose 0), augmentations (1) or mirrored clips (2) at one
    iteration: a function of its arguments alone, so that ranks draw different ones, a resumed run draws what
    the uninterrupted run would have, and a CPU and a GPU run see the same."""
    key = np.random.SeedSequence([seed, rank, iteration] + [purpose] * bool(purpose)).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(key) & (2 ** 63 - 1))


class GANTask:
    """G and D of the config's task (G(z), or G(first frame) for `future`) and their alternating updates."""

    def __init__(self, config: RunConfig, runtime: Runtime, dataset: Dataset):
        mcfg, tcfg = config.model, config.train
        check_fits(training_bytes(config), runtime.device, f"training at batch {tcfg.batch_size} per rank")
        self.model_cfg, self.seed, self.rank, self.world_size = mcfg, tcfg.seed, runtime.rank, runtime.world_size
        generator, discriminator = init_networks(mcfg, tcfg.seed)
        if tcfg.sync_bn:
            generator, discriminator = (with_sync_batchnorm(net, runtime) for net in (generator, discriminator))
        self.generator, self.discriminator = generator.to(runtime.device), discriminator.to(runtime.device)
        self.networks = {"generator": self.generator, "discriminator": self.discriminator}
        self.opt_g, self.opt_d = adam(self.generator.parameters(), tcfg), adam(self.discriminator.parameters(), tcfg)
        self.optimizers = {"opt_g": self.opt_g, "opt_d": self.opt_d}
        # the average is copied from G after its initialisation, so it starts where G starts
        self.ema = GeneratorAverage(self.generator, tcfg.ema_half_life) if tcfg.ema_half_life > 0 else None
        if self.ema:
            self.networks["generator_ema"] = self.ema.average
        prepare_networks(self.networks, config, runtime.device)
        self.future = mcfg.task == "future"
        self.mirror = tcfg.mirror
        self.dataset = dataset
        # the mask prior belongs to the video task's objective; equation 3 (future) has none
        self.loss = VideoGANLoss(self.discriminator, tcfg.mask_l1 if not self.future else 0.0,
                                 tcfg.first_frame_weight, tcfg.first_frame_loss, tcfg.r1_gamma, tcfg.r1_every,
                                 tcfg.augment, tcfg.mode_seeking)
        # progress samples: 16 fixed codes, or for the future task the first frames of the first 16 clips
        fixed_videos = torch.stack([dataset[i]["video"] for i in range(min(16, len(dataset)))]) if self.future else None
        self.fixed_inputs = generator_inputs(mcfg, torch.Generator().manual_seed(tcfg.seed + 10_000),
                                             16 if not self.future else len(fixed_videos), fixed_videos)

    def inputs(self, real: torch.Tensor, iteration: int) -> tuple:
        """G's inputs for this rank's batch at `iteration` (real b 3 t h w: the future task's first frames)."""
        return generator_inputs(self.model_cfg, noise_stream(self.seed, self.rank, iteration), len(real), real)

    def step(self, real: torch.Tensor, iteration: int, context: StepContext) -> dict[str, torch.Tensor]:
        if self.mirror:
            real = mirror(real, noise_stream(self.seed, self.rank, iteration, purpose=2))
        inputs = self.inputs(real, iteration)
        augment_rng = noise_stream(self.seed, self.rank, iteration, purpose=1)
        with context.autocast():
            parts = self.generator(*inputs, parts=True)
            d_loss, d_stats = self.loss.discriminator_loss(real, parts["video"], iteration, augment_rng)
        context.update(d_loss, self.opt_d, self.discriminator)
        self.discriminator.requires_grad_(False)  # D's weights need no gradient in the G step
        with context.autocast():
            g_loss, g_stats = self.loss.generator_loss(parts, image=inputs[0] if self.future else None,
                                                       rng=augment_rng, codes=None if self.future else inputs[0])
        context.update(g_loss, self.opt_g, self.generator)
        self.discriminator.requires_grad_(True)
        if self.ema:
            self.ema.update(self.generator, len(real) * self.world_size)
        return {**d_stats, **g_stats}

    def write_samples(self, out_dir: Path, iteration: int) -> dict:
        """From the average when there is one: what `sample` will draw."""
        shown = self.ema.average if self.ema else self.generator.eval()
        parts = generate(shown, self.fixed_inputs)
        write_grids(parts, out_dir, prefix=f"{iteration:07d}_", formats=("gif",))
        self.generator.train()
        return parts

    def checkpoint_extras(self) -> dict:
        return {}

    def start_warnings(self) -> list[str]:
        """Clips too still for the two-stream decomposition."""
        warning = stillness_warning(self.dataset) if self.model_cfg.arch == "two_stream" else None
        return [warning] if warning else []


def train(config: RunConfig, run_dir: str | Path, resume: bool = False, progress: bool = True,
          state: dict | None = None) -> Path | None:
    """Train the video GAN of the config's task (G(z), or G(first frame) for `future`); returns the last
    checkpoint written (None on ranks > 0). With `resume`, from `state` when the caller has loaded the
    run's checkpoint already, else from the run's latest."""
    state = state if state is not None or not resume else latest_state(Path(run_dir), resume)
    outcome, _, _ = run_task(GANTask, config, Path(run_dir), state, progress)
    return outcome.checkpoint
