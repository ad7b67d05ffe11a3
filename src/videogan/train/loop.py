"""The video GAN's training (section 2.3) and `videogan train`.

Each iteration: a D step on a real and a fake batch, then a G step on the same fake batch (as in
DCGAN.torch, on which the released code is built). The loop around it (trainer.py) is shared with the
baseline: Ctrl-C or SIGTERM saves a checkpoint and exits; `--resume RUN_DIR` continues bit-for-bit on
the CPU; under torchrun the ranks average gradients and agree on when to stop (distributed.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import RunConfig, add_config_arguments, config_from_args
from ..models import VideoDiscriminator, build_generator, generator_inputs
from ..runtime import Runtime
from .checkpoint import config_of, list_checkpoints, load_latest
from .distributed import with_sync_batchnorm
from .ema import GeneratorAverage
from .loss import VideoGANLoss
from .media import generate, write_grids
from .run_dir import clip_size_note, prepare_run_dir, writing_run
from .trainer import Trainer, adam, latest_state, prepare_networks, run_task


def init_networks(model_cfg, seed: int) -> tuple[torch.nn.Module, VideoDiscriminator]:
    """The task's G and D with the paper's initialisation, drawn from the run's seed (every rank starts equal)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_generator(model_cfg), VideoDiscriminator(model_cfg)


def noise_stream(seed: int, rank: int, iteration: int) -> torch.Generator:
    """The CPU generator of one rank's codes at one iteration: a function of (seed, rank, iteration) alone,
    so that ranks draw different codes, a resumed run draws the codes the uninterrupted run would have,
    and a CPU and a GPU run see the same ones."""
    key = np.random.SeedSequence([seed, rank, iteration]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(key) & (2 ** 63 - 1))


class GANTask:
    """G and D of the config's task (G(z), or G(first frame) for `future`) and their alternating updates."""

    def __init__(self, config: RunConfig, runtime: Runtime, dataset: Dataset):
        mcfg, tcfg = config.model, config.train
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
        prepare_networks(self.networks, config)
        self.future = mcfg.task == "future"
        # the mask prior belongs to the video task's objective; equation 3 (future) has none
        self.loss = VideoGANLoss(self.discriminator, tcfg.mask_l1 if not self.future else 0.0,
                                 tcfg.first_frame_weight, tcfg.first_frame_loss, tcfg.r1_gamma, tcfg.r1_every)
        # progress samples: 16 fixed codes, or for the future task the first frames of the first 16 clips
        fixed_videos = torch.stack([dataset[i]["video"] for i in range(min(16, len(dataset)))]) if self.future else None
        self.fixed_inputs = generator_inputs(mcfg, torch.Generator().manual_seed(tcfg.seed + 10_000),
                                             16 if not self.future else len(fixed_videos), fixed_videos)

    def inputs(self, real: torch.Tensor, iteration: int) -> tuple:
        """G's inputs for this rank's batch at `iteration` (real b 3 t h w: the future task's first frames)."""
        return generator_inputs(self.model_cfg, noise_stream(self.seed, self.rank, iteration), len(real), real)

    def step(self, real: torch.Tensor, iteration: int, trainer: Trainer) -> dict[str, torch.Tensor]:
        inputs = self.inputs(real, iteration)
        with trainer.autocast():
            parts = self.generator(*inputs, parts=True)
            d_loss, d_stats = self.loss.discriminator_loss(real, parts["video"], iteration)
        trainer.update(d_loss, self.opt_d, self.discriminator)
        self.discriminator.requires_grad_(False)  # D's weights need no gradient in the G step
        with trainer.autocast():
            g_loss, g_stats = self.loss.generator_loss(parts, image=inputs[0] if self.future else None)
        trainer.update(g_loss, self.opt_g, self.generator)
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


def train(config: RunConfig, run_dir: str | Path, resume: bool = False, progress: bool = True,
          state: dict | None = None) -> Path | None:
    """Train the video GAN of the config's task (G(z), or G(first frame) for `future`); returns the last
    checkpoint written (None on ranks > 0). With `resume`, from `state` when the caller has loaded the
    run's checkpoint already, else from the run's latest."""
    state = state if state is not None or not resume else latest_state(Path(run_dir), resume)
    outcome, _, _ = run_task(GANTask, config, Path(run_dir), state, progress)
    return outcome.checkpoint


def resolve_run(args) -> tuple[Path, RunConfig, dict | None]:
    """(run folder, config, latest checkpoint or None) for `--out NEW` or `--resume RUN_DIR` (one of them
    given: `writing_run`); flags given on the command line apply on top of the preset, or of the saved config
    when resuming."""
    if args.resume:
        run_dir = Path(args.resume)
        if not list_checkpoints(run_dir):
            raise FileNotFoundError(f"{run_dir}: nothing to resume (no checkpoints in {run_dir / 'checkpoints'})")
        prepare_run_dir(run_dir)
        state = load_latest(run_dir, set_aside=True)
        return run_dir, config_from_args(args, base=config_of(state)), state
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
    with writing_run(args):
        run_dir, config, state = resolve_run(args)
        last = train(config, run_dir, resume=state is not None, progress=not args.no_progress, state=state)
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
