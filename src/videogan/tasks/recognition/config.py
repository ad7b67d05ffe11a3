"""Configuration of the recognition tasks: frozen dataclasses and presets, flags generated as for `train`
(each field's `setting` holds its help text and range).

The network's shape (frames, size, widths) is not here: it comes from the GAN checkpoint (`--init`), or
for `--init random` from the GAN preset of the same name, so a random-init run has that architecture.
Without `--preset` the recognition commands start from `cpu`, like `train`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

from ...config import DEVICE, ConfigError, ModelConfig, default_preset, get_preset, setting, validate


@dataclass(frozen=True)
class FinetuneConfig:
    batch_size: int = setting(256, "clips per fine-tuning step (released code: 256)", low=1)
    iterations: int = setting(1000, "fine-tuning steps (released code: about 1,000)", low=1)
    lr: float = setting(2e-4, "Adam learning rate", low=0.0)
    beta1: float = setting(0.5, "Adam beta1", low=0.0, high=1.0)
    beta2: float = setting(0.999, "Adam beta2", low=0.0, high=1.0)
    dropout: float = setting(0.5, "channel dropout (Dropout3d) before the new K-way layer", low=0.0, high=1.0)
    seed: int = setting(0, "seed of the head's initialisation, dropout, clip order and crops", low=0)
    eval_batch: int = setting(64, "clips per forward pass when evaluating or extracting features", low=1)
    workers: int = setting(4, "DataLoader worker processes for training clips", low=0)
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps: auto takes the GPU when there is one",
                          pattern=DEVICE.pattern)

    def __post_init__(self):
        validate(self)


@dataclass(frozen=True)
class LabelledDataConfig:
    data: str = setting("synthetic", "labelled videos: synthetic (the built-in motion classes), a class-per-folder "
                                     "tree or a UCF-101 root")
    split: Optional[int] = setting(None, "UCF-101: official split 1-3 (default 1); other layouts are split by "
                                         "--test-fraction", low=1, high=4)
    test_fraction: float = setting(0.3, "class-per-folder tree and built-in set: held-out share of each class, "
                                        "more than 0", low=0.0, high=1.0)
    split_seed: int = setting(0, "which videos are held out (the same for every method and sweep seed)", low=0)
    groups: str = setting("", "class-per-folder tree: keep related videos on one side, re:PATTERN (a file name's group: "
                              "the pattern's first capture group, or its whole match) or a file of NAME GROUP lines")
    fps: float = setting(0.0, "video files: decode at this rate, as `prepare --fps` did for the GAN's clips (0: each "
                              "video's own rate; at most 240)", low=0.0)
    synthetic_videos: int = setting(600, "built-in set: labelled videos (train + test)", low=1)
    synthetic_frames: int = setting(64, "built-in set: frames per video, longer than the clip so that crops differ",
                                    low=1)
    synthetic_seed: int = setting(4321, "built-in set: seed (not the GAN's data_seed 1234, so that no labelled "
                                        "video was seen unlabelled)", low=0)
    max_objects: int = setting(3, "built-in set: objects per video (1..max)", low=1)

    def __post_init__(self):
        validate(self)
        if self.test_fraction == 0:
            raise ConfigError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.fps > 240:
            raise ConfigError(f"fps must be in [0, 240] (0: each video's own rate), got {self.fps}")


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
