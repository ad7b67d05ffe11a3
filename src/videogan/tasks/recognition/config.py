"""Configuration of the recognition tasks: frozen dataclasses and presets, flags generated as for `train`.

The network's shape (frames, size, widths) is not here: it comes from the GAN checkpoint (`--init`), or
for `--init random` from the GAN preset of the same name, so a random-init run has that architecture.
Without `--preset` the recognition commands start from `cpu`, like `train`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

from ...config import ConfigError, ModelConfig, default_preset, get_preset


@dataclass(frozen=True)
class FinetuneConfig:
    batch_size: int = 256  # released code
    iterations: int = 1000  # released code: about 1,000 iterations
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    dropout: float = 0.5  # channel dropout (Dropout3d) before the new K-way layer
    seed: int = 0  # head init, dropout, clip order and crops
    eval_batch: int = 64  # clips per forward pass when evaluating or extracting features
    workers: int = 4  # DataLoader worker processes for training clips
    device: str = "auto"

    def __post_init__(self):
        if min(self.batch_size, self.iterations, self.eval_batch) < 1:
            raise ConfigError("batch_size, iterations and eval_batch must be positive")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class LabelledDataConfig:
    data: str = "synthetic"  # "synthetic" (built-in motion classes), a class-per-folder tree or a UCF-101 root
    split: Optional[int] = None  # UCF-101 official split 1-3 (default 1); other layouts are split by test_fraction
    test_fraction: float = 0.3  # class-per-folder and built-in: held-out share of each class
    split_seed: int = 0  # which videos are held out (fixed across methods and sweep seeds)
    groups: str = ""  # class-per-folder tree: related videos kept on one side, re:PATTERN or a NAME GROUP file
    fps: float = 0.0  # video files: decode at this rate, as `prepare --fps` did for the GAN's clips (0: native)
    synthetic_videos: int = 600  # built-in: number of labelled videos (train + test)
    synthetic_frames: int = 64  # built-in: frames per video; longer than the clip so crops differ
    synthetic_seed: int = 4321  # built-in: not the GAN's data_seed 1234, so no labelled video was seen unlabelled
    max_objects: int = 3

    def __post_init__(self):
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if not 0 <= self.fps <= 240:
            raise ConfigError(f"fps must be in [0, 240] (0: each video's own rate), got {self.fps}")
        if self.split is not None and self.split < 1:
            raise ConfigError(f"split must be 1, 2 or 3, got {self.split}")


@dataclass(frozen=True)
class RecognitionConfig:
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    data: LabelledDataConfig = field(default_factory=LabelledDataConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: dict[str, RecognitionConfig] = {
    # The released fine-tuning recipe (batch 256, ~1,000 iterations); 64-frame built-in videos for 32-frame clips.
    "paper": RecognitionConfig(),
    # 2 CPU cores: the cpu GAN preset (16 frames of 32x32) fine-tuned in a few minutes.
    "cpu": RecognitionConfig(FinetuneConfig(batch_size=32, iterations=150, workers=0),
                             LabelledDataConfig(synthetic_frames=32)),
    # tests: seconds
    "tiny": RecognitionConfig(FinetuneConfig(batch_size=4, iterations=3, eval_batch=8, workers=0, device="cpu"),
                              LabelledDataConfig(synthetic_videos=40, synthetic_frames=12)),
}


def preset_name(name: str | None) -> str:
    """The preset a recognition command uses: the one named, or the same default as `train`.

    The shared --preset flag also offers the GAN-only presets (future-*); they are refused here by name."""
    name = name or default_preset(None)
    if name not in PRESETS:
        raise ConfigError(f"preset {name!r} has no recognition settings; choose from {sorted(PRESETS)}")
    return name


def get_recognition_preset(name: str | None) -> RecognitionConfig:
    return PRESETS[preset_name(name)]


def random_init_model(name: str | None) -> ModelConfig:
    """The architecture of `--init random`: the GAN preset's model of the same name."""
    return get_preset(preset_name(name)).model
