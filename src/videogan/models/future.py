"""Future generation from a still image (section 3.4), as the authors' released code built it.

Paper preset (`future-paper`: 64x64 input, 32x64x64 output):
  encoder (2-D): image 3x64x64 -> 128 x 32x32 -> 256 x 16x16 -> 512 x 8x8 -> 1024 x 4x4
      kernel 4, stride 2, pad 1; ReLU; BatchNorm (eps 1e-3) on all but the first layer.
      The paper says "five layers"; the released code has four, and so do we.
  static stream (2-D): map -> 512 x 8x8 -> 256 x 16x16 -> 128 x 32x32, b = tanh(conv 128->3) -> 64x64
  video stream (3-D):  map viewed as 1024 x 1x4x4 -> 1024 x 2x4x4 (kernel 2x1x1)
      -> 512 x 4x8x8 -> 256 x 8x16x16 -> 128 x 16x32x32, f = tanh(conv 128->3), m = sigmoid(conv 128->1)
  output: equation 2, m * f + (1 - m) * b.
There is no 100-d code: the 4x4 map feeds both streams, and the released model is deterministic.
`noise_dim` K > 0 (our option, not the paper's) tiles a K-d Gaussian code over the map as K extra
channels, so one image can yield several futures.

Smaller presets keep the pattern: the encoder has as many stride-2 stages as the streams (so its map is
always 4x4) and its widths mirror theirs (`g_width` is the streams' last width, the encoder's first).
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .discriminator import BN_EPS
from .generator import output_head, up_stack, generator_widths, two_stream_output
from .init import init_weights


def _encoder(cfg: ModelConfig) -> nn.Sequential:
    """One block per stride-2 stage (so `encoder[n - 1]` is layer n, as `visualize-units --layer n`)."""
    widths = generator_widths(cfg)[::-1]  # 128, 256, 512, 1024 for the paper
    down = dict(kernel_size=4, stride=2, padding=1)
    blocks = [nn.Sequential(nn.Conv2d(3, widths[0], **down), nn.ReLU(inplace=True))]
    for a, b in zip(widths, widths[1:]):
        blocks.append(nn.Sequential(nn.Conv2d(a, b, bias=False, **down), nn.BatchNorm2d(b, eps=BN_EPS),
                                    nn.ReLU(inplace=True)))
    return nn.Sequential(*blocks)


class FutureGenerator(nn.Module):
    """forward(image b 3 h w in [-1, 1], noise b K or None) -> video b 3 t h w; with parts=True the dict
    of `VideoGenerator.forward` (video, background, foreground, mask). The generated video's first frame
    is trained to reconstruct the image (equation 3)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.task != "future":
            raise ValueError(f"FutureGenerator needs a future-task config, got task {cfg.task!r}")
        self.cfg = cfg
        widths = generator_widths(cfg)
        code = widths[0] + cfg.noise_dim  # channels of the 4x4 map both streams read
        self.encoder = _encoder(cfg)
        self.video = up_stack(cfg, 3, code, (cfg.first_frames, 1, 1))  # b c 1 4 4 -> b c' t/2 h/2 w/2
        self.heads = output_head(cfg, 3, widths[-1], 4)  # f (3 channels) and m (1), as in VideoGenerator
        self.background = nn.Sequential(up_stack(cfg, 2, code), output_head(cfg, 2, widths[-1], 3))
        init_weights(self)

    def encode(self, image: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """image b 3 h w -> the map b (c + K) 4 4 both streams read."""
        code = self.encoder(image)  # b c 4 4
        if self.cfg.noise_dim == 0:
            if noise is not None:
                raise ValueError("this model is deterministic (noise_dim 0): it takes no noise")
            return code
        if noise is None or noise.shape != (image.shape[0], self.cfg.noise_dim):
            raise ValueError(f"this model needs noise of shape (batch, {self.cfg.noise_dim}), got "
                             f"{None if noise is None else tuple(noise.shape)}")
        return torch.cat([code, noise[:, :, None, None].expand(-1, -1, *code.shape[2:])], dim=1)

    def forward(self, image: torch.Tensor, noise: torch.Tensor | None = None, parts: bool = False):
        code = self.encode(image, noise)  # b c 4 4
        heads = self.heads(self.video(code.unsqueeze(2)))  # b 4 t h w
        return two_stream_output(heads, self.background(code), parts)
