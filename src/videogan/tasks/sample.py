"""`videogan sample`: videos from a trained generator, and for the two-stream model its streams
(background, foreground, mask, masked foreground: the paper's Figure 3)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..data.video_io import grid, to_uint8, write_png, write_video
from ..models import VideoGenerator
from ..runtime import pick_device
from ..train.checkpoint import config_of, load_checkpoint


def load_generator(checkpoint: str | Path, device: torch.device | str = "cpu") -> VideoGenerator:
    """Rebuild the generator from a checkpoint alone, in eval mode (BatchNorm running statistics)."""
    state = load_checkpoint(checkpoint)
    config = config_of(state)
    if "generator" not in state or config.model.task != "video":
        raise ValueError(f"{state['path']}: checkpoint holds no unconditional video generator"
                         + (f" (it is a {config.model.task!r}-task model: use `videogan predict`)"
                            if config.model.task == "future" else ""))
    generator = VideoGenerator(config.model)
    try:
        generator.load_state_dict(state["generator"])
    except RuntimeError as err:
        raise ValueError(f"{state['path']}: generator weights do not fit the network its config describes "
                         f"(written by another videogan version?): {str(err).splitlines()[1].strip()}") from None
    return generator.to(device).eval()


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


def stream_videos(parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each moving part as a b 3 t h w video in [-1, 1] for display; the mask is shown white = foreground.
    (The background is one still image per video: `write_grids` saves it as a PNG.)"""
    out = {"videos": parts["video"]}
    if "mask" in parts:
        out["foreground"] = parts["foreground"]
        out["mask"] = (parts["mask"] * 2 - 1).expand(-1, 3, -1, -1, -1)
        # f * m over black: what the foreground stream contributes (Figure 3's "foreground" panel)
        out["foreground_masked"] = (parts["foreground"] + 1) * parts["mask"] - 1
    return out


def write_grids(parts: dict[str, torch.Tensor], out_dir: Path, prefix: str = "", fps: float = 8.0,
                formats: tuple[str, ...] = ("gif", "mp4"), scale: int = 2) -> list[Path]:
    written = []
    for name, video in stream_videos(parts).items():
        tiled = grid(to_uint8(video))
        for ext in formats:
            path = out_dir / f"{prefix}{name}.{ext}"
            write_video(path, tiled, fps=fps, scale=scale)
            written.append(path)
    if "background" in parts:
        path = out_dir / f"{prefix}background.png"
        write_png(path, grid(to_uint8(parts["background"].unsqueeze(2)))[0], scale=scale)
        written.append(path)
    return written


def interpolation_z(z_dim: int, steps: int, generator: torch.Generator) -> torch.Tensor:
    """`steps` codes on the straight line between two random codes: steps z_dim."""
    a, b = torch.randn(2, z_dim, generator=generator)
    weights = torch.linspace(0, 1, steps)[:, None]
    return (1 - weights) * a + weights * b


def run(args) -> None:
    device = pick_device(args.device)
    generator = load_generator(args.checkpoint, device)
    z_dim = generator.cfg.z_dim
    rng = torch.Generator().manual_seed(args.seed)
    z = interpolation_z(z_dim, args.n, rng) if args.interpolate else torch.randn(args.n, z_dim, generator=rng)
    parts = generate(generator, z)
    out = Path(args.out)
    prefix = "interpolation_" if args.interpolate else ""
    written = write_grids(parts, out, prefix=prefix, fps=args.fps)
    if args.each:
        frames = to_uint8(parts["video"])
        for i, video in enumerate(frames):
            path = out / "videos" / f"{i:05d}.mp4"
            write_video(path, video, fps=args.fps)
        written.append(out / "videos")
    print(f"wrote {len(written)} files to {out}")


def register(subparsers) -> None:
    parser = subparsers.add_parser("sample", help="generate videos (and the two-stream model's streams)")
    parser.add_argument("checkpoint", help="checkpoint file or run folder (its latest checkpoint)")
    parser.add_argument("--n", type=int, default=16, help="number of videos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--interpolate", action="store_true", help="videos along a line between two random z")
    parser.add_argument("--each", action="store_true", help="also write every video as its own MP4 (for FVD)")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--device", default="auto")
    parser.set_defaults(func=run)
