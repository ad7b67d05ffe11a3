"""The future of still images (section 3.4) from a `--task future` checkpoint.

Per image, in OUT/<image name>/ (its stem; -2, -3... added where images share one, as a/x.png, b/x.png):
  input.png                        the image as the model sees it (short side resized, centre crop)
  video-K.gif, video-K.mp4         frame 1 is that input image, frames 2..T+1 the T generated frames
                                   (whose first frame is the model's reconstruction of the input)
  foreground-K, mask-K, foreground_masked-K (.gif, .mp4), background-K.png: the two streams
K counts the samples (--samples, default 1); a deterministic model (noise_dim 0) has only one future.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..checkpoint import config_of, load_checkpoint
from ..data.clips import square
from ..data.images import open_image
from ..data.synthetic import to_model_range
from ..data.video_io import to_uint8, write_png, write_video
from ..models import FutureGenerator
from ..models.sampler import generate, restore_generator
from ..train.media import stream_videos


def load_future_generator(checkpoint: str | Path, device: torch.device | str = "cpu",
                          raw: bool = False) -> FutureGenerator:
    """The future generator of a checkpoint, in eval mode (the weights' average when the run kept one,
    unless `raw`); a checkpoint of another task is a clear error."""
    state = load_checkpoint(checkpoint)
    model = config_of(state).model
    if model.task != "future" or "generator" not in state:
        raise ValueError(f"{state['path']}: not a future-generation checkpoint (task {model.task!r}); train one "
                         "with `videogan train --task future`")
    return restore_generator(state, FutureGenerator(model), device, raw)


def _rgb_pixels(image: Image.Image) -> np.ndarray:
    """h w 3 uint8 of an image in any mode (L, P, RGBA, CMYK, 16-bit, float...).

    Pillow's convert("RGB") clips wider-than-8-bit greys at 255 instead of scaling them, which turns
    most of a 16-bit photograph white; so those modes are scaled to 8 bits first. Integer modes (I;16*,
    and I, as which some decoders deliver 16-bit data) are taken as 0..65535, floats (F) as 0..1."""
    if image.mode == "F" or image.mode.startswith("I"):
        full = 1.0 if image.mode == "F" else 65535.0
        grey = np.asarray(image, dtype=np.float64) * (255 / full)
        image = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8))
    return np.asarray(image.convert("RGB"))


def load_image(path: str | Path, size: int) -> torch.Tensor:
    """Any image file, any size or mode -> 3 size size in [-1, 1], framed like training clips (`square`)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not an image file (name the images in it, e.g. {path / '*.png'})")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    with open_image(path, str(path)) as image:
        pixels = _rgb_pixels(image)
    return to_model_range(square(pixels, size)[None])[:, 0]  # 1 h w 3 -> 3 1 h w -> 3 h w


@torch.no_grad()
def predict(generator: FutureGenerator, images: torch.Tensor, samples: int = 1, seed: int = 0) -> dict:
    """images b 3 h w -> the generator's parts for each image's `samples` futures, image-major: (b samples) ...
    Noise (noise_dim > 0) is drawn from `seed`; a deterministic model allows samples = 1 only."""
    if samples < 1:
        raise ValueError(f"--samples must be at least 1, got {samples}")
    if samples > 1 and generator.cfg.noise_dim == 0:
        raise ValueError(f"this model is deterministic (noise_dim 0): it has one future per image, not {samples}; "
                         "train with --noise-dim K for several")
    repeated = images.repeat_interleave(samples, dim=0)  # (b samples) 3 h w
    inputs = (repeated,)
    if generator.cfg.noise_dim:
        rng = torch.Generator().manual_seed(seed)
        inputs += (torch.randn(len(repeated), generator.cfg.noise_dim, generator=rng),)
    return generate(generator, inputs)


def write_prediction(out_dir: Path, image: torch.Tensor, parts: dict, fps: float = 8.0, scale: int = 1) -> list[Path]:
    """One image's files (see the module docstring); parts hold its K samples."""
    written = [out_dir / "input.png"]
    write_png(written[0], to_uint8(image[:, None])[0], scale)
    for k in range(len(parts["video"])):
        one = {name: value[k:k + 1] for name, value in parts.items()}
        for name, video in stream_videos(one).items():
            frames = to_uint8(video[0])  # t h w 3
            if name == "videos":  # the input as frame 1, then the generated frames
                name, frames = "video", np.concatenate([to_uint8(image[:, None]), frames])
            for ext in ("gif", "mp4"):
                written.append(out_dir / f"{name}-{k}.{ext}")
                write_video(written[-1], frames, fps, scale)
        written.append(out_dir / f"background-{k}.png")
        write_png(written[-1], to_uint8(one["background"][0, :, None])[0], scale)
    return written


def output_names(paths: list[Path]) -> list[str]:
    """A distinct folder name per image: its stem, with -2, -3... added where an earlier image has taken it
    (a/x.png and b/x.png, or x.png and x.jpg), so that no image's files overwrite another's."""
    names: list[str] = []
    for path in paths:
        name, count = path.stem, 1
        while name in names:
            count += 1
            name = f"{path.stem}-{count}"
        names.append(name)
    return names
