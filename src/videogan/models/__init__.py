"""Networks of the paper: the video generators (one- and two-stream), the future generator of section 3.4,
and the video discriminator."""
import torch

from ..config import ModelConfig
from .autoencoder import CodeMixture, VideoEncoder
from .discriminator import VideoDiscriminator
from .future import FutureGenerator
from .generator import VideoGenerator, compose
from .init import init_weights

__all__ = ["VideoGenerator", "FutureGenerator", "VideoDiscriminator", "VideoEncoder", "CodeMixture", "build_generator",
           "generator_inputs", "compose", "init_weights"]


def build_generator(cfg: ModelConfig) -> VideoGenerator | FutureGenerator:
    """The generator a config's task trains: G(z) for `video`, G(first frame) for `future`."""
    return FutureGenerator(cfg) if cfg.task == "future" else VideoGenerator(cfg)


def generator_inputs(cfg: ModelConfig, rng: torch.Generator, n: int, videos: torch.Tensor | None = None) -> tuple:
    """What G takes for a batch of n, as a tuple of positional arguments: (z,) for `video`; for `future`,
    (first frames b 3 h w of `videos` b 3 t h w,) and, with noise_dim K > 0, a b K code. Codes are drawn
    on the CPU from `rng` (a CPU and a GPU run see the same ones) and moved to the videos' device."""
    device = videos.device if videos is not None else torch.device("cpu")
    if cfg.task == "video":
        return (_to_device(torch.randn(n, cfg.z_dim, generator=rng), device),)
    if videos is None or len(videos) != n:
        raise ValueError(f"the future task's generator needs n={n} videos to take first frames from")
    first = videos[:, :, 0]  # b 3 h w
    return (first, _to_device(torch.randn(n, cfg.noise_dim, generator=rng), device)) if cfg.noise_dim else (first,)


def _to_device(codes: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A copy to a GPU from pinned memory, which does not make the host wait for the GPU's queue."""
    return codes.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else codes
