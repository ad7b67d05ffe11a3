"""What the future generator's encoder learned (the paper's Figure 6).

Following Zhou et al. (the paper's [53]): a unit of encoder layer N is scored on each image by its
largest activation over the image's positions. A unit's *selectivity* is how far its top images stand
above the rest: (mean score of its `top` best images - mean score over all images) / (std over all
images); a unit that fires equally on everything scores 0, one that fires on a few images only scores
high. For the most selective units, the grid shows the top images, each with the region where the unit
fires highlighted: its activation map, upsampled bilinearly to the image, thresholded at half the
unit's largest value over all images; the rest of the image is darkened.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.decode import IMAGE_EXTENSIONS
from ..data.video_io import grid, to_uint8
from ..models import FutureGenerator

DARKEN = 0.25  # brightness kept outside a unit's region


def image_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS)})")
    return files


def encoder_layers(generator: FutureGenerator, layer: int) -> nn.Sequential:
    """The encoder up to layer `layer` (1-based, ending after its ReLU). Slicing alone would accept any
    number (0 or 9 give the identity or the whole encoder), hence the check."""
    if not 1 <= layer <= len(generator.encoder):
        raise ValueError(f"--layer must be between 1 and {len(generator.encoder)} (the encoder's layers), got {layer}")
    return generator.encoder[:layer]


@torch.no_grad()
def encoder_activations(layers: nn.Sequential, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """images n 3 h w -> the output of `layers` (see `encoder_layers`): n c h' w', on the CPU."""
    device = next(layers.parameters()).device
    return torch.cat([layers(images[i:i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)])


def selectivity(scores: torch.Tensor, top: int) -> torch.Tensor:
    """scores n_images c (a unit's peak activation per image) -> c: (mean of the top `top` - mean) / std."""
    best = scores.topk(min(top, len(scores)), dim=0).values.mean(dim=0)
    spread = scores.std(dim=0) if len(scores) > 1 else torch.zeros(scores.shape[1])
    return torch.where(spread > 0, (best - scores.mean(dim=0)) / spread.clamp_min(1e-12), torch.zeros_like(spread))


def highlight(images: torch.Tensor, maps: torch.Tensor, threshold: float) -> torch.Tensor:
    """images k 3 h w in [-1, 1], maps k h' w' -> images with the region where maps (upsampled) exceed the
    threshold kept and the rest darkened."""
    up = F.interpolate(maps[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)  # k 1 h w
    keep = (up > threshold).float()
    return (images + 1) * (keep + (1 - keep) * DARKEN) - 1


def visualize_units(layers: nn.Sequential, images: torch.Tensor, units: int = 8,
                    top: int = 6) -> tuple[np.ndarray, list[dict]]:
    """The Figure 6 grid of the units of the last of `layers` (H W 3 uint8: one row per unit, its top
    images left to right) and per row the unit's index, selectivity and top image indices."""
    acts = encoder_activations(layers, images)  # n c h' w'
    scores = acts.flatten(2).amax(dim=2)  # n c
    selective = selectivity(scores, top)  # c
    chosen = selective.topk(min(units, acts.shape[1])).indices
    rows, cells = [], []
    for unit in chosen.tolist():
        best = scores[:, unit].topk(min(top, len(images))).indices
        threshold = 0.5 * acts[:, unit].max().item()
        cells.append(highlight(images[best], acts[best, unit], threshold))
        rows.append({"unit": unit, "selectivity": round(float(selective[unit]), 4),
                     "images": best.tolist()})
    tiles = to_uint8(torch.cat(cells)[:, :, None])  # (units top) 1 h w 3
    return grid(tiles, columns=min(top, len(images)))[0], rows
