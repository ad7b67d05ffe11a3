"""Video discriminator of section 2.3: the foreground stream reversed.

Paper preset: 3 x 32x64x64 -> 64 -> 128 -> 256 -> 512 x 2x4x4 -> one logit (conv with kernel 2x4x4).
The released code outputs two logits with a softmax cross-entropy; one logit with binary cross-entropy
is the same model (softmax over [a, b] is sigmoid(a - b)), so we keep one.

`d_norm="spectral"` (not the paper's) divides every convolution's weight by its largest singular value
(Miyato et al. 2018) and drops BatchNorm, which SN-GAN's discriminator does without. `d_norm="none"` drops
BatchNorm alone: the D of GANs regularised by a gradient penalty (train/loss.py's R1), where BatchNorm would
make one clip's gradient depend on the others in its batch.

`d_minibatch_std=G` (not the paper's; ProGAN's, Karras et al. 2018) gives the last layer one more channel:
how much the clips of each group of G differ in D's last features. A G that draws the same clip over and
over then looks unlike real data, which a D judging one clip at a time cannot see.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..config import ModelConfig
from .init import init_weights

BN_EPS = 1e-3  # as in the released code


def discriminator_widths(cfg: ModelConfig) -> list[int]:
    return [cfg.d_width * 2 ** i for i in range(cfg.stages)]


class MinibatchStd(nn.Module):
    """b c t h w -> b c+1 t h w: the extra channel is the standard deviation of the features over each clip's
    group of `group` clips (the largest divisor of the batch that is at most `group`), averaged over channels
    and positions."""

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        group = math.gcd(self.group, b)
        variance = x.reshape(group, b // group, *x.shape[1:]).var(dim=0, correction=0)  # b/g c t h w
        spread = (variance + 1e-8).sqrt().mean(dim=(1, 2, 3, 4))  # b/g; eps: a finite gradient at 0
        channel = spread.repeat(group)[:, None, None, None, None].expand(b, 1, *x.shape[2:])
        return torch.cat([x, channel], dim=1)


class VideoDiscriminator(nn.Module):
    """forward(video b 3 t h w) -> logits b; `features(video)` -> last hidden map b c t' h' w'."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        widths = discriminator_widths(cfg)
        down = dict(kernel_size=4, stride=2, padding=1)
        batch_norm = cfg.d_norm == "batch"
        layers = [nn.Sequential(nn.Conv3d(3, widths[0], **down), nn.LeakyReLU(0.2, inplace=True))]
        for a, b in zip(widths, widths[1:]):
            if batch_norm:
                block = [nn.Conv3d(a, b, bias=False, **down), nn.BatchNorm3d(b, eps=BN_EPS)]
            else:
                block = [nn.Conv3d(a, b, **down)]
            layers.append(nn.Sequential(*block, nn.LeakyReLU(0.2, inplace=True)))
        self.features = nn.Sequential(*layers)
        self.spread = MinibatchStd(cfg.d_minibatch_std) if cfg.d_minibatch_std else nn.Identity()
        self.classifier = nn.Conv3d(widths[-1] + bool(cfg.d_minibatch_std), 1, kernel_size=(cfg.first_frames, 4, 4))
        init_weights(self)
        if cfg.d_norm == "spectral":  # after init: the normalised weight is computed from the initialised one
            for conv in [m for m in self.modules() if isinstance(m, nn.Conv3d)]:
                spectral_norm(conv)

    @property
    def feature_width(self) -> int:
        return discriminator_widths(self.cfg)[-1]

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.spread(self.features(video))).flatten()  # b
