"""Drawing videos from a trained generator: its code distribution paired with it (`VideoSampler`), rebuilt
from a checkpoint alone.

Any unconditional checkpoint works: `load_sampler` pairs its generator with its code distribution
(N(0, I) for the GAN, the fitted mixture for the autoencoder baseline)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import config_of, load_checkpoint, load_weights
from .autoencoder import CodeMixture
from .generator import VideoGenerator


@torch.no_grad()
def generate(generator: nn.Module, inputs: torch.Tensor | tuple[torch.Tensor, ...],
             batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Run the generator over its inputs (z, or a tuple of `generator_inputs`) in batches; returns its
    parts on the CPU."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    device = next(generator.parameters()).device
    chunks = [generator(*(x[i:i + batch_size].to(device) for x in inputs), parts=True)
              for i in range(0, len(inputs[0]), batch_size)]
    return {k: torch.cat([c[k] for c in chunks]).cpu() for k in chunks[0]}


def _generator_of(state: dict, device: torch.device | str, raw: bool = False) -> VideoGenerator:
    config = config_of(state)
    if "generator" not in state or config.model.task != "video":
        raise ValueError(f"{state['path']}: checkpoint holds no unconditional video generator"
                         + (f" (it is a {config.model.task!r}-task model: use `videogan predict`)"
                            if config.model.task == "future" else ""))
    generator = restore_generator(state, VideoGenerator(config.model), device, raw)
    # finite weights can still make NaN videos (a negative BatchNorm variance, weights near float's limit):
    # a sample of black videos with exit 0 would be a silent wrong result
    probe = torch.randn(2, config.model.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        if not torch.isfinite(generator(probe.to(device))).all():
            raise ValueError(f"{state['path']}: its generator makes videos of NaN or infinite values (broken weights "
                             "or BatchNorm statistics)")
    return generator


def restore_generator(state: dict, generator: nn.Module, device: torch.device | str, raw: bool = False) -> nn.Module:
    """`generator` (built from the checkpoint's config) with the checkpoint's weights, in eval mode: the
    average of G's weights when the run kept one (train/ema.py), unless `raw` asks for the trained G.
    Weights of another network are a ValueError naming the file and the first key that differs."""
    load_weights(state, "generator" if raw or "generator_ema" not in state else "generator_ema", generator)
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
