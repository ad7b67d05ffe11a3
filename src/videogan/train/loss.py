"""The GAN objective (equation 1) with the two-stream mask prior, and the first-frame term of future
generation (equation 3): all of the G and D math in one place.

D maximises log D(x) + log(1 - D(G(z))); G uses the non-saturating form, maximising log D(G(z)).
Both go through BCE-with-logits, the numerically stable cross entropy section 2.3 asks for.

Not the paper's, off unless asked: the R1 penalty (Mescheder et al. 2018), gamma/2 E|grad_x D(x)|^2 over
real clips, which keeps D from growing steep around the data (the game D wins in docs/notebook.md 5); and
augmentation of every clip D sees (augment.py), drawn from the `rng` the caller passes; and the
mode-seeking term (Mao et al. 2019), which makes G pay for drawing alike videos from unlike codes.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from .augment import ClipAugment


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    logits = logits.float()  # losses in float32, also when the networks run in bf16
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def code_to_video_gap(video: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """How far apart G puts the videos of two codes, per unit of distance between the codes: mean |G(z1) - G(z2)|
    over mean |z1 - z2|, with the batch's first half paired with its second (MSGAN's ratio)."""
    half = len(video) // 2
    if half == 0:
        raise ValueError("the mode-seeking term pairs the batch's videos: it needs a batch of 2 or more")
    video_gap = (video[:half] - video[half:2 * half]).float().abs().mean()
    code_gap = (codes[:half] - codes[half:2 * half]).float().abs().mean()
    return video_gap / code_gap


def first_frame_loss(video: torch.Tensor, image: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Equation 3's reconstruction term: the mean |G0(x0) - x0| (l1, the released code) or the mean
    squared difference (l2, the paper's text) between the first frame of video b 3 t h w and image b 3 h w.
    Means over all elements, so lambda does not depend on the frame size."""
    diff = video[:, :, 0].float() - image.float()
    if kind == "l1":
        return diff.abs().mean()
    if kind == "l2":
        return diff.square().mean()
    raise ValueError(f"first-frame loss must be l1 or l2, got {kind!r}")


class VideoGANLoss:
    """`mask_l1`: lambda of the mask prior (video task); `first_frame_weight`, `first_frame_kind`: lambda and
    form of equation 3's term (future task), applied when `generator_loss` is given the input image;
    `mode_seeking`: weight of 1 / code_to_video_gap in G's loss, applied when `generator_loss` is given the codes."""

    def __init__(self, discriminator: nn.Module, mask_l1: float = 0.1, first_frame_weight: float = 10.0,
                 first_frame_kind: str = "l1", r1_gamma: float = 0.0, r1_every: int = 1, augment: str = "",
                 mode_seeking: float = 0.0):
        self.discriminator = discriminator
        self.mode_seeking = mode_seeking
        self.augment = ClipAugment(augment)
        self.mask_l1, self.r1_gamma, self.r1_every = mask_l1, r1_gamma, r1_every
        self.first_frame_weight, self.first_frame_kind = first_frame_weight, first_frame_kind

    def _judge(self, video: torch.Tensor, rng: torch.Generator | None) -> torch.Tensor:
        """D's logits for b 3 t h w clips, augmented first when the loss has augmentations."""
        if self.augment:
            if rng is None:
                raise ValueError("an augmenting loss needs the rng of its random draws")
            video = self.augment(video, rng)
        return self.discriminator(video)

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, iteration: int = 0,
                           rng: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        """real, fake: b 3 t h w. Two forward passes, so BatchNorm never mixes real and fake statistics.
        With r1_gamma, every r1_every-th iteration adds the R1 penalty times r1_gamma * r1_every (lazy: the
        same weight on average as at every step, at a quarter of the cost for r1_every 4)."""
        r1_weight = self.r1_gamma * self.r1_every if self.r1_gamma and iteration % self.r1_every == 0 else 0.0
        if r1_weight:
            leaf = real.detach().requires_grad_(True)
            # D sees a view, not the leaf itself: autograd.grad refuses a leaf that module backward hooks
            # watch (torch.utils.flop_counter's, the benchmarks')
            real = leaf.view_as(leaf)
        # torch.compile (AOTAutograd) has no double backward: with --compile, D's forward at the real clips of an
        # R1 step runs eagerly (the same weights and BatchNorm buffers), every other forward compiled
        with torch.compiler.set_stance("force_eager") if r1_weight else nullcontext():
            real_logits = self._judge(real, rng)
        fake_logits = self._judge(fake.detach(), rng)
        loss = _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)
        stats = {"loss_d": loss.detach(), "d_real": torch.sigmoid(real_logits).mean().detach(),
                 "d_fake": torch.sigmoid(fake_logits).mean().detach()}
        if r1_weight:
            grad, = torch.autograd.grad(real_logits.float().sum(), leaf, create_graph=True)
            penalty = grad.float().square().flatten(1).sum(1).mean()  # E |grad_x D(x)|^2
            loss = loss + r1_weight / 2 * penalty
            stats["r1"] = penalty.detach()
        return loss, stats

    def generator_loss(self, parts: dict, image: torch.Tensor | None = None, rng: torch.Generator | None = None,
                       codes: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """parts: the generator's output dict; image: the future task's input b 3 h w (None: video task);
        codes: the b z codes the videos were drawn from (the mode-seeking term's pairs).
        The mask prior lambda * mean|m| is the released code's L1 penalty averaged over all mask
        elements (m >= 0 after the sigmoid, so |m| = m)."""
        logits = self._judge(parts["video"], rng)
        adversarial = _bce(logits, 1.0)
        loss, stats = adversarial, {"loss_g": adversarial.detach()}
        if "mask" in parts:
            mask_mean = parts["mask"].float().abs().mean()
            loss = loss + self.mask_l1 * mask_mean
            stats["mask_mean"] = mask_mean.detach()
        if image is not None:
            reconstruction = first_frame_loss(parts["video"], image, self.first_frame_kind)
            loss = loss + self.first_frame_weight * reconstruction
            stats["first_frame"] = reconstruction.detach()
        if self.mode_seeking and codes is not None:
            gap = code_to_video_gap(parts["video"], codes)
            loss = loss + self.mode_seeking / (gap + 1e-5)  # the ratio can be 0; MSGAN's epsilon
            stats["mode_seeking_gap"] = gap.detach()
        return loss, stats
