"""The paper's baseline (section 3.2): a video encoder built like the discriminator, and a Gaussian
mixture over its codes, kept as plain tensors so that checkpoints load with `weights_only=True`.

The decoder is the two-stream `VideoGenerator` itself: sampling a baseline is "draw z from the
mixture, run the generator", exactly as a GAN is "draw z from N(0, I), run the generator".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..config import ModelConfig
from .discriminator import VideoDiscriminator
from .init import init_weights

COVARIANCE_TYPES = ("diag", "full", "tied", "spherical")  # scikit-learn's names and array shapes


class VideoEncoder(nn.Module):
    """forward(video b 3 t h w) -> code b z_dim: the discriminator with its one-logit output conv replaced
    by a conv to z_dim channels (same kernel, so the last feature map collapses to 1x1x1 the same way)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        trunk = VideoDiscriminator(cfg)  # initialised the paper's way already
        self.features = trunk.features  # b c t' h' w'
        self.code = nn.Conv3d(trunk.feature_width, cfg.z_dim, kernel_size=trunk.classifier.kernel_size)
        init_weights(self.code)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.code(self.features(video)).flatten(1)  # b z_dim


@dataclass(frozen=True)
class CodeMixture:
    """A Gaussian mixture over codes: weights k, means k d, covariances in scikit-learn's layout for
    `covariance_type` (diag: k d, full: k d d, tied: d d, spherical: k)."""

    weights: torch.Tensor
    means: torch.Tensor
    covariances: torch.Tensor
    covariance_type: str

    def __post_init__(self):
        k, d = self.means.shape
        expected = {"diag": (k, d), "full": (k, d, d), "tied": (d, d), "spherical": (k,)}
        if self.covariance_type not in expected:
            raise ValueError(f"unknown covariance type {self.covariance_type!r}; choose from {COVARIANCE_TYPES}")
        if tuple(self.weights.shape) != (k,) or tuple(self.covariances.shape) != expected[self.covariance_type]:
            raise ValueError(f"mixture arrays do not fit together: weights {tuple(self.weights.shape)}, means "
                             f"{(k, d)}, {self.covariance_type} covariances {tuple(self.covariances.shape)}")

    @classmethod
    def fit(cls, codes: torch.Tensor, components: int, covariance_type: str = "diag", seed: int = 0,
            max_iter: int = 100) -> "CodeMixture":
        """EM fit of scikit-learn's GaussianMixture to codes n d (n >= components).

        Nothing fixes the scale of the codes (the decoder's first layer is batch-normalised), so the fit
        runs on codes centred and divided by their overall standard deviation, and the mixture is mapped
        back: scikit-learn's absolute covariance floor (reg_covar) then means the same for any scale."""
        from sklearn.mixture import GaussianMixture  # only training needs scikit-learn

        if len(codes) < components:
            raise ValueError(f"{len(codes)} codes cannot fit a {components}-component mixture: every component "
                             "needs at least one code (encode more clips or use fewer components)")
        codes = codes.double()
        centre, scale = codes.mean(0), codes.std().clamp_min(1e-12)  # d, scalar
        gmm = GaussianMixture(components, covariance_type=covariance_type, random_state=seed, max_iter=max_iter)
        gmm.fit(((codes - centre) / scale).numpy())
        as_tensor = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))  # noqa: E731
        return cls(as_tensor(gmm.weights_), as_tensor(gmm.means_) * scale + centre,
                   as_tensor(gmm.covariances_) * scale ** 2, covariance_type)

    def to_state(self) -> dict:
        return {"weights": self.weights, "means": self.means, "covariances": self.covariances,
                "covariance_type": self.covariance_type}

    @classmethod
    def from_state(cls, state: dict) -> "CodeMixture":
        return cls(state["weights"], state["means"], state["covariances"], state["covariance_type"])

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n codes n d (float32): a component by weight, then a Gaussian draw from it."""
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # n
        noise = torch.randn(n, self.means.shape[1], generator=generator, dtype=self.means.dtype)  # n d
        cov = self.covariances
        if self.covariance_type == "diag":
            offset = noise * cov[component].sqrt()
        elif self.covariance_type == "spherical":
            offset = noise * cov[component].sqrt()[:, None]
        elif self.covariance_type == "tied":
            offset = noise @ torch.linalg.cholesky(cov).T
        else:  # full: each draw through its own component's Cholesky factor
            offset = (torch.linalg.cholesky(cov)[component] @ noise[:, :, None]).squeeze(-1)
        return (self.means[component] + offset).float()
