"""Differentiable augmentation of every clip D sees, real and generated (not in the paper: DiffAugment,
Zhao et al. 2020). With a few hundred training clips, D memorises them within a few thousand iterations
and G chases the memory; showing D randomly shifted, recoloured and cut-out clips, the same transform for
every frame of a clip, takes that away while G still has to match the real clips underneath.

The transforms are differentiable, so G's gradient and the R1 penalty's flow through them. Random draws come
from a CPU generator the caller seeds, so a resumed run augments as the uninterrupted one would.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import AUGMENTATIONS


def _uniform(rng: torch.Generator, b: int, like: torch.Tensor) -> torch.Tensor:
    """b x 1 x 1 x 1 x 1 uniforms in [0, 1): one draw per clip, broadcast over c t h w."""
    return torch.rand(b, 1, 1, 1, 1, generator=rng).to(like.device, like.dtype)


def color(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Brightness +-0.5, saturation x0..2, contrast x0.5..1.5 on clips in [-1, 1]."""
    b = len(x)
    x = x + (_uniform(rng, b, x) - 0.5)
    grey = x.mean(1, keepdim=True)
    x = (x - grey) * (_uniform(rng, b, x) * 2) + grey
    level = x.mean((1, 2, 3, 4), keepdim=True)
    return (x - level) * (_uniform(rng, b, x) + 0.5) + level


def translation(x: torch.Tensor, rng: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each clip by up to ratio x its size in y and x, filling with zeros (mid grey)."""
    b, _, _, h, w = x.shape  # b c t h w
    pad_h, pad_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-pad_h, pad_h + 1, (b, 1), generator=rng)
    dx = torch.randint(-pad_w, pad_w + 1, (b, 1), generator=rng)
    rows = (torch.arange(h)[None] + pad_h + dy).to(x.device)  # b h
    cols = (torch.arange(w)[None] + pad_w + dx).to(x.device)  # b w
    padded = F.pad(x, [pad_w, pad_w, pad_h, pad_h])  # b c t (h+2p) (w+2p)
    index = torch.arange(b, device=x.device)[:, None, None]
    shifted = padded[index, :, :, rows[:, :, None], cols[:, None, :]]  # b h w c t
    return shifted.permute(0, 3, 4, 1, 2)


def cutout(x: torch.Tensor, rng: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero (mid grey) a square of ratio x the frame size at a random place in each clip, in every frame."""
    b, _, _, h, w = x.shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + 1 - size_h % 2, (b, 1), generator=rng) - size_h // 2
    left = torch.randint(0, w + 1 - size_w % 2, (b, 1), generator=rng) - size_w // 2
    ys, xs = torch.arange(h)[None], torch.arange(w)[None]
    inside_y = (ys >= top) & (ys < top + size_h)  # b h
    inside_x = (xs >= left) & (xs < left + size_w)  # b w
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])  # b h w
    return x * keep[:, None, None].to(x.device, x.dtype)


def mirror(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Each clip flipped left-right with probability 1/2: the real clips' half of StyleGAN's --mirror, which
    doubles a small training set of scenes whose left and right are alike (people walk both ways)."""
    flip = (torch.rand(len(x), generator=rng) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None, None], x.flip(4), x)


_TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def parse_augment(policy: str) -> tuple[str, ...]:
    """'translation,cutout' -> ('translation', 'cutout'); '' -> (). Unknown or empty names raise ValueError."""
    names = tuple(policy.split(",")) if policy else ()
    unknown = [name for name in names if name not in _TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}; choose from {', '.join(AUGMENTATIONS)}")
    return names


class ClipAugment:
    """The transforms of a policy string, applied in the order written, each with its own random draw per clip."""

    def __init__(self, policy: str):
        self.names = parse_augment(policy)

    def __bool__(self) -> bool:
        return bool(self.names)

    def __call__(self, x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        for name in self.names:
            x = _TRANSFORMS[name](x, rng)
        return x
