"""`videogan sample`: videos from a trained generator, and for the two-stream model its streams
(background, foreground, mask, masked foreground: the paper's Figure 3).

Any unconditional checkpoint works: `load_sampler` pairs its generator with its code distribution
(N(0, I) for the GAN, the fitted mixture for the autoencoder baseline)."""
from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..data.video_io import to_uint8, write_video
from ..models import CodeMixture, VideoGenerator
from ..runtime import pick_device
from ..train.checkpoint import config_of, load_checkpoint
from ..train.media import generate, write_grids


RAW_HELP = "the trained G, not the average of its weights (runs with --ema-half-life)"


def _generator_of(state: dict, device: torch.device | str, raw: bool = False) -> VideoGenerator:
    config = config_of(state)
    if "generator" not in state or config.model.task != "video":
        raise ValueError(f"{state['path']}: checkpoint holds no unconditional video generator"
                         + (f" (it is a {config.model.task!r}-task model: use `videogan predict`)"
                            if config.model.task == "future" else ""))
    return restore_generator(state, VideoGenerator(config.model), device, raw)


def restore_generator(state: dict, generator: nn.Module, device: torch.device | str, raw: bool = False) -> nn.Module:
    """`generator` (built from the checkpoint's config) with the checkpoint's weights, in eval mode: the
    average of G's weights when the run kept one (train/ema.py), unless `raw` asks for the trained G.

    Weights of another network (another task or architecture than the config says, or another videogan
    version) are a ValueError naming the file rather than PyTorch's multi-line RuntimeError."""
    try:
        generator.load_state_dict(state["generator" if raw or "generator_ema" not in state else "generator_ema"])
    except RuntimeError as err:
        # "Error(s) in loading state_dict for X:", then one line per problem, each listing every key
        first = (str(err).splitlines()[1:] or [str(err)])[0]
        raise ValueError(f"{state['path']}: generator weights do not fit the {type(generator).__name__} its config "
                         f"describes (task {generator.cfg.task!r}, arch {generator.cfg.arch!r}): "
                         f"{textwrap.shorten(first, 160, placeholder=' ...')}") from None
    return generator.to(device).eval()


def load_generator(checkpoint: str | Path, device: torch.device | str = "cpu", raw: bool = False) -> VideoGenerator:
    """Rebuild the generator from a checkpoint alone, in eval mode (BatchNorm running statistics); the
    weights' average when the run kept one, unless `raw`."""
    return _generator_of(load_checkpoint(checkpoint), device, raw)


@dataclass(frozen=True)
class VideoSampler:
    """What every unconditional checkpoint offers: a generator (the GAN's G, or the baseline's decoder)
    and the distribution of its codes. Tools that draw videos (`sample`, `evaluate`) go through this,
    so they work for any kind of checkpoint."""

    generator: VideoGenerator
    draw_codes: Callable[[int, torch.Generator], torch.Tensor]  # (n, rng) -> n z_dim codes, on the CPU
    prior: str  # "normal" (GAN: z ~ N(0, I)) or "gmm" (baseline: z ~ the mixture fitted to its codes)

    def sample(self, n: int, rng: torch.Generator, batch_size: int = 64) -> dict[str, torch.Tensor]:
        """n videos' parts (see `generate`); the same rng state gives the same videos."""
        return generate(self.generator, self.draw_codes(n, rng), batch_size)


def load_sampler(checkpoint: str | Path, device: torch.device | str = "cpu", raw: bool = False) -> VideoSampler:
    """The sampler of any unconditional checkpoint, from the checkpoint alone (see `load_generator` for `raw`)."""
    state = load_checkpoint(checkpoint)
    generator = _generator_of(state, device, raw)
    if "gmm" in state:
        return VideoSampler(generator, CodeMixture.from_state(state["gmm"]).sample, "gmm")
    if state.get("kind") == "baseline":
        raise ValueError(f"{state['path']}: baseline checkpoint from before its Gaussian mixture was fitted; "
                         f"finish the run with `videogan baseline train --resume RUN_DIR`")
    z_dim = generator.cfg.z_dim
    return VideoSampler(generator, lambda n, rng: torch.randn(n, z_dim, generator=rng), "normal")


def interpolation_z(draw_codes: Callable[[int, torch.Generator], torch.Tensor], steps: int,
                    generator: torch.Generator) -> torch.Tensor:
    """`steps` codes on the straight line between two codes drawn from the prior: steps z_dim."""
    a, b = draw_codes(2, generator)
    weights = torch.linspace(0, 1, steps)[:, None]
    return (1 - weights) * a + weights * b


def write_samples(sampler: VideoSampler, out: Path, n: int, seed: int, interpolate: bool = False,
                  each: bool = False, fps: float = 8.0) -> list[Path]:
    """What `videogan sample` writes: grids of the videos and streams, and with `each` one MP4 per video;
    returns every file written."""
    if n < 1 or (interpolate and n < 2):
        raise ValueError(f"--n {n}: give at least " + ("2 videos (the two ends of the line)" if interpolate else "1 video"))
    if not fps > 0:
        raise ValueError(f"--fps {fps}: frames per second must be positive")
    rng = torch.Generator().manual_seed(seed)
    z = interpolation_z(sampler.draw_codes, n, rng) if interpolate else sampler.draw_codes(n, rng)
    parts = generate(sampler.generator, z)
    written = write_grids(parts, out, prefix="interpolation_" if interpolate else "", fps=fps)
    if each:
        for i, video in enumerate(to_uint8(parts["video"])):
            path = out / "videos" / f"{i:05d}.mp4"
            write_video(path, video, fps=fps)
            written.append(path)
    return written


def run(args) -> None:
    sampler = load_sampler(args.checkpoint, pick_device(args.device), args.raw)
    out = Path(args.out)
    written = write_samples(sampler, out, args.n, args.seed, args.interpolate, args.each, args.fps)
    print(f"wrote {len(written)} files to {out}")


def add_sample_arguments(parser) -> None:
    parser.add_argument("checkpoint", help="checkpoint file or run folder (its latest checkpoint)")
    parser.add_argument("--n", type=int, default=16, help="number of videos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--interpolate", action="store_true", help="videos along a line between two codes drawn from the prior")
    parser.add_argument("--each", action="store_true", help="also write every video as its own MP4 (for FVD)")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--device", default="auto")


def register(subparsers) -> None:
    parser = subparsers.add_parser("sample", help="generate videos (and the two-stream model's streams)")
    add_sample_arguments(parser)
    parser.add_argument("--raw", action="store_true", help=RAW_HELP)  # GANs only: the baseline keeps no average
    parser.set_defaults(func=run)
