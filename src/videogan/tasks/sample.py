"""Videos from a trained generator, and for the two-stream model its streams (background, foreground,
mask, masked foreground: the paper's Figure 3), as `videogan sample` writes them.

Any unconditional checkpoint works: `models.sampler.load_sampler` pairs its generator with its code
distribution (N(0, I) for the GAN, the fitted mixture for the autoencoder baseline)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ..data.video_io import check_fps, to_uint8, write_video
from ..models.memory import check_fits, inference_bytes
from ..models.sampler import VideoSampler, generate
from ..train.media import write_grids


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
    check_fps(fps)
    device = next(sampler.generator.parameters()).device
    check_fits(inference_bytes(sampler.generator.cfg, n), device, f"generating --n {n} videos at once")
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
