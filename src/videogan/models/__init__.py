"""Networks of the paper: the video generators (one- and two-stream) and the video discriminator."""
from .autoencoder import CodeMixture, VideoEncoder
from .discriminator import VideoDiscriminator
from .generator import VideoGenerator, compose
from .init import init_weights

__all__ = ["VideoGenerator", "VideoDiscriminator", "VideoEncoder", "CodeMixture", "compose", "init_weights"]
