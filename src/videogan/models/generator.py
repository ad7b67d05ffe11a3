"""Video generators of section 2.2: the one-stream network and the two-stream network of equation 2.

Layer pattern (paper preset, 32x64x64 from z in R^100):
  foreground trunk (3-D): z -> 512 x 2x4x4 -> 256 x 4x8x8 -> 128 x 8x16x16 -> 64 x 16x32x32
      heads: f = tanh(conv 64->3), m = sigmoid(conv 64->1)          -> 32x64x64
             (computed together as one conv 64->4; see `heads`)
  background (2-D):       z -> 512 x 4x4   -> 256 x 8x8   -> 128 x 16x16   -> 64 x 32x32
      b = tanh(conv 64->3)                                          -> 64x64
Smaller presets drop stages from the front (fewer, narrower layers), keeping the pattern.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .init import init_weights


def _up_block(conv: type[nn.Module], norm: type[nn.Module], c_in: int, c_out: int, **conv_kw) -> nn.Sequential:
    return nn.Sequential(conv(c_in, c_out, bias=False, **conv_kw), norm(c_out), nn.ReLU(inplace=True))


def generator_widths(cfg: ModelConfig) -> list[int]:
    """Hidden widths from the first layer to the last: 512, 256, 128, 64 for the paper."""
    return [cfg.g_width * 2 ** (cfg.stages - 1 - i) for i in range(cfg.stages)]


def up_stack(cfg: ModelConfig, dims: int, c_in: int, first_kernel=None) -> nn.Sequential:
    """The up-sampling stack: with `first_kernel`, a first block c_in -> widths[0] (z's projection to 4x4,
    or the future model's temporal expansion) and then the stride-2 blocks; without it, the stride-2
    blocks start from c_in (the future model's static stream, fed the encoder's 4x4 map)."""
    conv, norm = (nn.ConvTranspose3d, nn.BatchNorm3d) if dims == 3 else (nn.ConvTranspose2d, nn.BatchNorm2d)
    widths = generator_widths(cfg)
    layers = []
    if first_kernel is not None:
        layers.append(_up_block(conv, norm, c_in, widths[0], kernel_size=first_kernel))
        c_in = widths[0]
    layers += [_up_block(conv, norm, a, b, kernel_size=4, stride=2, padding=1)
               for a, b in zip([c_in, *widths[1:-1]], widths[1:])]
    return nn.Sequential(*layers)


def output_head(cfg: ModelConfig, dims: int, c_in: int, c_out: int) -> nn.Module:
    """The last, full-resolution layer. `transposed` (the paper): a stride-2 transposed convolution, whose
    uneven overlap of 4x4 kernels at stride 2 can draw a checkerboard; `resize`: nearest-neighbour doubling,
    then a 3x3(x3) convolution (Odena et al. 2016, "Deconvolution and checkerboard artifacts")."""
    if cfg.upsample == "resize":
        conv = nn.Conv3d if dims == 3 else nn.Conv2d
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv(c_in, c_out, kernel_size=3, padding=1))
    conv = nn.ConvTranspose3d if dims == 3 else nn.ConvTranspose2d
    return conv(c_in, c_out, kernel_size=4, stride=2, padding=1)


def compose(mask: torch.Tensor, foreground: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Equation 2: G2(z) = m(z) * f(z) + (1 - m(z)) * b(z).

    mask b 1 t h w, foreground b 3 t h w, background b 3 h w (replicated over time by broadcasting).
    """
    return mask * foreground + (1 - mask) * background.unsqueeze(2)


def two_stream_output(heads: torch.Tensor, background: torch.Tensor, parts: bool):
    """The two streams' raw outputs to equation 2: heads b 4 t h w (f's 3 channels, m's 1), background b 3 h w
    before tanh. Returns the video, or with `parts` the dict of `VideoGenerator.forward`."""
    foreground = torch.tanh(heads[:, :3])  # b 3 t h w
    mask = torch.sigmoid(heads[:, 3:])  # b 1 t h w
    background = torch.tanh(background)  # b 3 h w
    video = compose(mask, foreground, background)
    if parts:
        return {"video": video, "background": background, "foreground": foreground, "mask": mask}
    return video


class VideoGenerator(nn.Module):
    """One- or two-stream generator, chosen by `cfg.arch`.

    forward(z) -> video b 3 t h w in [-1, 1]; forward(z, parts=True) -> dict with `video` and, for the
    two-stream network, `background` (b 3 h w), `foreground` (b 3 t h w) and `mask` (b 1 t h w).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        last = generator_widths(cfg)[-1]
        self.trunk = up_stack(cfg, 3, cfg.z_dim, (cfg.first_frames, 4, 4))  # z -> b c t h w
        # f (3 channels) and m (1 channel) heads as one transposed conv: each output channel has its own
        # weights, so this is exactly two heads on the shared trunk, in one full-resolution pass
        self.heads = output_head(cfg, 3, last, 4 if cfg.arch == "two_stream" else 3)
        if cfg.arch == "two_stream":
            self.background = nn.Sequential(up_stack(cfg, 2, cfg.z_dim, 4), output_head(cfg, 2, last, 3))
        init_weights(self)

    @property
    def two_stream(self) -> bool:
        return self.cfg.arch == "two_stream"

    def forward(self, z: torch.Tensor, parts: bool = False):
        hidden = self.trunk(z.view(z.shape[0], -1, 1, 1, 1))  # b c t/2 h/2 w/2
        heads = self.heads(hidden)  # b 4 t h w (two-stream) or b 3 t h w
        if not self.two_stream:
            foreground = torch.tanh(heads)  # b 3 t h w
            return {"video": foreground} if parts else foreground
        return two_stream_output(heads, self.background(z.view(z.shape[0], -1, 1, 1)), parts)
