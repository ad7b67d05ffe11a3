"""Frozen configuration dataclasses, named presets, and the command-line flags generated from them.

A run is fully described by one `RunConfig`; it is saved as JSON in the run folder and inside every
checkpoint, so any tool can rebuild the networks from a checkpoint alone.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field

ARCHS = ("two_stream", "one_stream")
TASKS = ("video", "future")  # unconditional videos from z (section 2), or the future of a still image (3.4)
FIRST_FRAME_LOSSES = ("l1", "l2")
PRECISIONS = ("auto", "fp32", "tf32", "bf16")


class ConfigError(ValueError):
    """A configuration that the networks cannot realise."""


def _log2_exact(value: int, what: str) -> int:
    if value < 1 or value & (value - 1):
        raise ConfigError(f"{what} must be a power of two, got {value}")
    return int(math.log2(value))


@dataclass(frozen=True)
class ModelConfig:
    task: str = "video"  # video: G(z); future: G(first frame), section 3.4
    arch: str = "two_stream"  # two_stream (equation 2) or one_stream
    frames: int = 32  # video length T
    size: int = 64  # frame height = width
    z_dim: int = 100
    g_width: int = 64  # generator's last hidden width; earlier layers double it (paper: 512-256-128-64)
    d_width: int = 64  # discriminator's first width; later layers double it (paper: 64-128-256-512)
    noise_dim: int = 0  # future task: noise channels added to the encoder's map (0: the released, deterministic model)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.task == "future" and self.arch != "two_stream":
            raise ConfigError("the future task uses the two-stream generator (section 3.4): arch must be two_stream")
        if self.noise_dim < 0:
            raise ConfigError(f"noise_dim must be 0 or positive, got {self.noise_dim}")
        if self.size < 8:
            raise ConfigError(f"size must be at least 8, got {self.size}")
        _log2_exact(self.size, "size")
        _log2_exact(self.frames, "frames")
        if self.frames < 2 ** self.stages:
            raise ConfigError(
                f"frames={self.frames} is too short for size={self.size}: the {self.stages} stride-2 "
                f"stages need at least {2 ** self.stages} frames (first layer reaches 4x4 in space)"
            )
        if min(self.z_dim, self.g_width, self.d_width) < 1:
            raise ConfigError("z_dim, g_width and d_width must be positive")

    @property
    def stages(self) -> int:
        """Stride-2 up-sampling stages after the first 4x4 layer (4 for 64x64)."""
        return _log2_exact(self.size, "size") - 2

    @property
    def first_frames(self) -> int:
        """Temporal extent of the first generator layer / last discriminator kernel (paper: 2)."""
        return self.frames // 2 ** self.stages


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    mask_l1: float = 0.1  # lambda of the mask sparsity prior (two-stream video task only)
    first_frame_weight: float = 10.0  # future task: lambda of equation 3
    first_frame_loss: str = "l1"  # future task: l1 (released code) or l2 (the paper's equation 3)
    iterations: int = 100_000
    max_minutes: float = 0.0  # wall-clock budget of this process (0: none); stops with a checkpoint
    seed: int = 0
    log_every: int = 50  # iterations per log line / stats.jsonl record
    sample_every: int = 1000
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3  # older periodic checkpoints are deleted; 0 keeps all
    workers: str = "auto"  # DataLoader worker processes per rank: a number, or auto (from the CPU count)
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    precision: str = "auto"  # fp32, tf32, bf16 (autocast), or auto: tf32 on CUDA, fp32 on the CPU
    channels_last: bool = False  # networks and clips in channels_last_3d memory format
    compile: bool = False  # torch.compile the networks (slow start; for long GPU runs)
    sync_bn: bool = False  # torchrun: BatchNorm statistics over the global batch (CUDA only)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.first_frame_loss not in FIRST_FRAME_LOSSES:
            raise ConfigError(f"first_frame_loss must be one of {FIRST_FRAME_LOSSES}, got {self.first_frame_loss!r}")


@dataclass(frozen=True)
class DataConfig:
    data: str = "synthetic"  # "synthetic" or a path (see `videogan prepare`)
    data_format: str = "auto"
    data_seed: int = 1234  # seed of the built-in dataset
    max_objects: int = 3  # built-in dataset: objects per video (1..max)
    data_root: str = ""  # folder a VideoGAN list's paths are relative to ("": the list file's folder)


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for name in sections:
            sub_cls = hints[name]
            known = {f.name for f in dataclasses.fields(sub_cls)}
            values = d.get(name, {})
            unknown = set(values) - known
            if unknown:
                raise ConfigError(f"unknown {name} config keys: {sorted(unknown)}")
            kwargs[name] = sub_cls(**values)
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def replace(config: RunConfig, **sections: dict) -> RunConfig:
    """`RunConfig` with fields of its sections replaced: replace(c, model={"frames": 16})."""
    changed = {name: dataclasses.replace(getattr(config, name), **values) for name, values in sections.items()}
    return dataclasses.replace(config, **changed)


def _preset(model=None, train=None, data=None) -> RunConfig:
    return RunConfig(ModelConfig(**(model or {})), TrainConfig(**(train or {})), DataConfig(**(data or {})))


PRESETS: dict[str, RunConfig] = {
    # The paper's recipe: 32 frames of 64x64, batch 64, Adam 2e-4 / 0.5, lambda 0.1.
    "paper": _preset(),
    # Fits 2 CPU cores: the same architecture pattern with one stage fewer and a quarter of the width.
    "cpu": _preset(
        model=dict(frames=16, size=32, g_width=16, d_width=16),
        train=dict(batch_size=32, iterations=5000, log_every=100, sample_every=500, checkpoint_every=500),
    ),
    # For tests and smoke runs: seconds per hundred iterations.
    "tiny": _preset(
        model=dict(frames=8, size=16, z_dim=16, g_width=8, d_width=8),
        train=dict(batch_size=4, iterations=20, log_every=5, sample_every=10, checkpoint_every=10, workers="0"),
    ),
}
# Future generation (section 3.4): the released code doubles every width of the unconditional model
# (encoder 128-256-512-1024, streams 1024-512-256-128, discriminator 128-...-1024) and trains with batch 32.
# Each preset is its unconditional namesake with the same doubling.
PRESETS.update({
    f"future-{name}": replace(PRESETS[name],
                              model={"task": "future", "g_width": 2 * PRESETS[name].model.g_width,
                                     "d_width": 2 * PRESETS[name].model.d_width},
                              # no mask prior in this task's objective (equation 3)
                              train={"batch_size": min(32, PRESETS[name].train.batch_size), "mask_l1": 0.0})
    for name in ("paper", "cpu", "tiny")
})


def get_preset(name: str) -> RunConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}") from None


# ---------------------------------------------------------------------------------------------
# Command line generated from the dataclasses: every field becomes --field-name.


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _scalar_type(tp):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def default_preset(task: str | None) -> str:
    """The preset a command starts from when none is named: `cpu`, or `future-cpu` for --task future."""
    return "future-cpu" if task == "future" else "cpu"


def add_config_arguments(parser: argparse.ArgumentParser, config_cls=RunConfig, presets=None) -> None:
    """Add --preset (one of `presets`, default all of PRESETS) and one flag per config field (all default
    to None: the preset decides)."""
    names = list(presets or PRESETS)
    default = "cpu" + (", or future-cpu with --task future" if "future-cpu" in names else "")
    parser.add_argument("--preset", default=None, help=f"starting configuration: {', '.join(names)} (default: {default})")
    for section in dataclasses.fields(config_cls):
        sub_cls = typing.get_type_hints(config_cls)[section.name]
        group = parser.add_argument_group(f"{section.name} config")
        hints = typing.get_type_hints(sub_cls)
        for f in dataclasses.fields(sub_cls):
            tp = _scalar_type(hints[f.name])
            if tp is bool:
                group.add_argument(_flag(f.name), dest=f"{section.name}.{f.name}", default=None,
                                   action=argparse.BooleanOptionalAction)
            else:
                group.add_argument(_flag(f.name), dest=f"{section.name}.{f.name}", type=tp, default=None,
                                   metavar=tp.__name__.upper())


def config_from_args(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """The preset (or `base`) with every flag the user gave applied on top."""
    config = base if base is not None else get_preset(args.preset or default_preset(getattr(args, "model.task", None)))
    updates: dict[str, dict] = {}
    for key, value in vars(args).items():
        if "." in key and value is not None:
            section, name = key.split(".", 1)
            updates.setdefault(section, {})[name] = value
    return replace(config, **updates)
