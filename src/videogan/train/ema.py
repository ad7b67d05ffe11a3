"""An exponential moving average of the generator's weights (not in the paper; stylegan and EDM keep one).

A GAN's generator wanders around the equilibrium from step to step; the average over the last stretch of
training is usually smoother (less high-frequency artefact) than any single step. Its rate is a half-life
in videos, as in EDM: after `half_life` videos of training, the weights of the start count half. Samples,
evaluation and prediction use the average when a checkpoint has one (`--raw` takes the trained G).
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorAverage:
    def __init__(self, generator: nn.Module, half_life: float):
        if half_life <= 0:
            raise ValueError(f"ema_half_life must be positive, got {half_life}")
        self.half_life = half_life
        self.average = copy.deepcopy(generator).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module, videos: int) -> None:
        """Move the average towards `generator` after a step that trained on `videos` (the global batch)."""
        keep = 0.5 ** (videos / self.half_life)
        for averaged, current in zip(self.average.parameters(), generator.parameters()):
            averaged.lerp_(current.detach(), 1 - keep)
        for averaged, current in zip(self.average.buffers(), generator.buffers()):
            averaged.copy_(current)  # BatchNorm's running statistics are already averages
