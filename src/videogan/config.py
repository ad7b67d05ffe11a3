"""Frozen configuration dataclasses and named presets (the command line's flags are generated from them in
cli/config_flags.py).

A run is fully described by one `RunConfig`; it is saved as JSON in the run folder and inside every
checkpoint, so any tool can rebuild the networks from a checkpoint alone.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from dataclasses import dataclass, field

ARCHS = ("two_stream", "one_stream")
TASKS = ("video", "future")  # unconditional videos from z (section 2), or the future of a still image (3.4)
FIRST_FRAME_LOSSES = ("l1", "l2")
DATA_FORMATS = ("auto", "shards", "videogan", "videos")  # how data.formats reads --data
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
PRECISIONS = ("auto", "fp32", "tf32", "bf16")
UPSAMPLINGS = ("transposed", "resize")  # the generator's last layer: the paper's, or resize + convolution
D_NORMS = ("batch", "spectral", "none")  # the discriminator's normalisation: the paper's BatchNorm, spectral norm, none
AUGMENTATIONS = ("color", "translation", "cutout")  # train/augment.py: what each does
_AUGMENTATION = "|".join(AUGMENTATIONS)
CHANNELS_LAST = ("auto", "on", "off")  # memory format of the 3-D layers: auto resolves by device (training_loop.py)


class ConfigError(ValueError):
    """A configuration that the networks cannot realise."""


def setting(default, help: str, *, low=None, high=None, choices=None, pattern=None):
    """A config field with its help text and its valid values (low <= value, value < high, one of choices, or
    a full match of pattern): `validate` checks them for the Python API and the CLI alike, and the CLI's help
    shows them."""
    return field(default=default, metadata={"help": help, "low": low, "high": high, "choices": choices,
                                            "pattern": pattern})


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _allowed_types(hint) -> tuple:
    """The classes a field's annotation admits (`int | str` -> (int, str); float admits int too)."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    allowed = typing.get_args(hint) if union else (hint,)
    return allowed + ((int,) if float in allowed else ())


def validate(config) -> None:
    """Check every field of a config dataclass against its type and its `setting` metadata; the one-line
    ConfigError names the field."""
    for f in dataclasses.fields(config):
        value, rule = getattr(config, f.name), f.metadata
        allowed = _allowed_types(_hints(type(config))[f.name])
        if all(isinstance(a, type) for a in allowed) and (
                not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
            names = " or ".join(a.__name__ for a in dict.fromkeys(allowed) if not (a is int and float in allowed))
            raise ConfigError(f"{f.name} must be {names.replace('NoneType', 'None')}, got {value!r}")
        if isinstance(value, str):
            if rule.get("choices") and value not in rule["choices"]:
                raise ConfigError(f"{f.name} must be one of {', '.join(rule['choices'])}; got {value!r}")
            if rule.get("pattern") and not re.fullmatch(rule["pattern"], value):
                raise ConfigError(f"{f.name} {value!r} is not valid ({rule['help']})")
        elif isinstance(value, (int, float)):
            if isinstance(value, int) and not -2 ** 63 <= value < 2 ** 63 or not math.isfinite(value):
                raise ConfigError(f"{f.name} must be a finite number that fits in 64 bits, got {value!r}")
            if problem := range_problem(f.name, value, rule.get("low"), rule.get("high")):
                raise ConfigError(problem)


def range_problem(name: str, value, low=None, high=None) -> str | None:
    """What is wrong with a number outside low <= value < high (the words of the API and the flags alike)."""
    if low is not None and value < low:
        return f"{name} must be at least {low}, got {value!r}"
    if high is not None and value >= high:
        return f"{name} must be below {high}, got {value!r}"
    return None


def _log2_exact(value: int, what: str) -> int:
    if value < 1 or value & (value - 1):
        raise ConfigError(f"{what} must be a power of two, got {value}")
    return int(math.log2(value))


@dataclass(frozen=True)
class ModelConfig:
    task: str = setting("video", "video: G(z); future: G(first frame), section 3.4", choices=TASKS)
    arch: str = setting("two_stream", "two_stream (equation 2) or one_stream", choices=ARCHS)
    frames: int = setting(32, "video length T (a power of two)", low=1)
    size: int = setting(64, "frame height = width (a power of two)", low=8)
    z_dim: int = setting(100, "dimensions of the code z", low=1)
    g_width: int = setting(64, "generator's last hidden width; earlier layers double it (paper: 512-256-128-64)",
                           low=1)
    d_width: int = setting(64, "discriminator's first width; later layers double it (paper: 64-128-256-512)", low=1)
    noise_dim: int = setting(0, "future task: noise channels added to the encoder's map (0: the released, "
                                "deterministic model)", low=0)
    upsample: str = setting("transposed", "G's last layer: transposed (the paper's stride-2 transposed "
                                          "convolution) or resize (nearest doubling, then a 3x3 convolution)",
                            choices=UPSAMPLINGS)
    d_norm: str = setting("batch", "D's normalisation: batch (the paper's BatchNorm), spectral (spectral norm "
                                   "on every convolution, no BatchNorm, as SN-GAN) or none (for --r1-gamma)",
                          choices=D_NORMS)
    d_minibatch_std: int = setting(0, "D's last layer also sees how much the clips of each group of this many differ "
                                      "(ProGAN's minibatch standard deviation; 0: off, the paper's D)", low=0)

    def __post_init__(self):
        validate(self)
        if self.task == "future" and self.arch != "two_stream":
            raise ConfigError("the future task uses the two-stream generator (section 3.4): arch must be two_stream")
        _log2_exact(self.size, "size")
        _log2_exact(self.frames, "frames")
        if self.frames < 2 ** self.stages:
            raise ConfigError(
                f"frames={self.frames} is too short for size={self.size}: the {self.stages} stride-2 "
                f"stages need at least {2 ** self.stages} frames (first layer reaches 4x4 in space)"
            )

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
    batch_size: int = setting(64, "videos per iteration on each rank (torchrun: the global batch is this x ranks)",
                              low=1)
    lr: float = setting(2e-4, "Adam learning rate", low=0.0)
    beta1: float = setting(0.5, "Adam beta1", low=0.0, high=1.0)
    beta2: float = setting(0.999, "Adam beta2", low=0.0, high=1.0)
    mask_l1: float = setting(0.1, "lambda of the mask sparsity prior (two-stream video task only)", low=0.0)
    first_frame_weight: float = setting(10.0, "future task: lambda of equation 3", low=0.0)
    first_frame_loss: str = setting("l1", "future task: l1 (released code) or l2 (the paper's equation 3)",
                                    choices=FIRST_FRAME_LOSSES)
    iterations: int = setting(100_000, "train until this iteration (on resume: give more to train longer)", low=1)
    max_minutes: float = setting(0.0, "wall-clock budget of this process (0: none); stops with a checkpoint", low=0.0)
    seed: int = setting(0, "seed of the weights, codes and clip order", low=0)
    log_every: int = setting(50, "iterations per log line / stats.jsonl record", low=1)
    sample_every: int = setting(1000, "iterations per progress sample grid", low=1)
    checkpoint_every: int = setting(1000, "iterations per checkpoint", low=1)
    keep_checkpoints: int = setting(3, "older periodic checkpoints are deleted; 0 keeps all", low=0)
    workers: str = setting("auto", "DataLoader worker processes per rank: a number, or auto (from the CPU count)",
                           pattern=r"auto|\d+")
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps: auto takes the GPU when there is one",
                          pattern=DEVICE.pattern)
    precision: str = setting("auto", "fp32, tf32, bf16 (autocast), or auto: tf32 on CUDA, fp32 on the CPU",
                             choices=PRECISIONS)
    channels_last: str = setting("auto", "networks and clips in channels_last_3d memory format: on, off, or auto: on "
                                         "when training on the CPU, off on CUDA and MPS (the presets whose CPU step it "
                                         "does not speed up say off)", choices=CHANNELS_LAST)
    compile: bool = setting(False, "torch.compile the networks (slow start; for long GPU runs)")
    sync_bn: bool = setting(False, "torchrun: BatchNorm statistics over the global batch (CUDA only)")
    r1_gamma: float = setting(0.0, "R1 penalty on D: gamma/2 times the mean squared norm of D's gradient at real clips "
                                   "(Mescheder et al. 2018; 0: none, the paper's recipe)", low=0.0)
    r1_every: int = setting(4, "apply the R1 penalty every this many iterations, scaled up to match (lazy, as "
                               "StyleGAN2)", low=1)
    augment: str = setting("", "GAN: differentiable augmentations of every clip D sees, real and generated, comma-separated: "
                               "color, translation, cutout (DiffAugment, Zhao et al. 2020; empty: none, the paper's "
                               "recipe)", pattern=rf"((?:{_AUGMENTATION})(?:,(?:{_AUGMENTATION}))*)?")
    mirror: bool = setting(False, "GAN: show D each real clip flipped left-right with probability 1/2, so G learns "
                                  "both directions of every motion (for footage whose left and right are alike; off: "
                                  "the paper's recipe)")
    mode_seeking: float = setting(0.0, "GAN, video task: weight of the mode-seeking term (Mao et al. 2019): G's loss "
                                       "grows as 1 / (mean |G(z1) - G(z2)| / mean |z1 - z2|) over pairs of the batch, so "
                                       "unlike codes must make unlike videos (0: none, the paper's recipe)", low=0.0)
    ema_half_life: float = setting(0.0, "GAN: keep an average of G's weights with this half-life in videos, which "
                                        "sample/evaluate/predict then use (0: none, the paper's recipe)", low=0.0)

    def __post_init__(self):
        if isinstance(self.channels_last, bool):  # saved before auto existed (config.json, checkpoints), or the API
            object.__setattr__(self, "channels_last", "on" if self.channels_last else "off")
        validate(self)
        if self.mode_seeking and self.batch_size < 2:
            raise ConfigError("mode_seeking pairs the videos of a batch: it needs batch_size 2 or more per rank")


@dataclass(frozen=True)
class DataConfig:
    data: str = setting("synthetic", "synthetic (the built-in dataset), a path, or the URL of prepared "
                                     "shards (see `videogan prepare`, docs/data.md)")
    data_format: str = setting("auto", "how to read --data (auto: detect)", choices=DATA_FORMATS)
    data_seed: int = setting(1234, "seed of the built-in dataset", low=0)
    max_objects: int = setting(3, "built-in dataset: objects per video (1..max)", low=1)
    object_scale: float = setting(1.0, "built-in dataset: multiplies every object's radius (1: radii of 7-16 "
                                       "percent of the frame)", low=0.25, high=2.6)
    data_root: str = setting("", "folder a VideoGAN list's paths are relative to (default: the list file's folder)")

    def __post_init__(self):
        validate(self)
        if self.data_root and self.data == "synthetic":
            raise ConfigError("data_root applies to VideoGAN list files, not to the built-in dataset")


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
    # `make demo`: 5 minutes of training on 2 CPU cores (docs/notebook.md 5, 7). Twice the cpu widths on 8-frame
    # clips at batch 16, sampled from the average of G's weights (notebook 1); not the paper's optimisation: D without
    # BatchNorm under the R1 penalty, Adam 1e-3 / (0, 0.99), which at equal iterations keeps the game level
    # and the mask off the still scene where the paper's recipe lets D win (notebook 7). Its objects are blobs.
    "demo": _preset(
        model=dict(frames=8, size=32, g_width=32, d_width=32, d_norm="none"),
        # channels_last_3d: no faster on its short kernels (0.98x, docs/performance.md)
        train=dict(batch_size=16, iterations=2200, lr=1e-3, beta1=0.0, beta2=0.99, r1_gamma=1.0,
                   ema_half_life=2000.0, log_every=100, sample_every=300, checkpoint_every=300, channels_last="off"),
    ),
    # Footage of a still camera: the cpu sizes with the optimisation that measured best on real people it never saw
    # (docs/results.md, real footage; prepare clips at a rate where they move: `prepare --fps 12.5` on 25 frames/s
    # people). Departs from the paper where the table there says what each departure buys. D's minibatch standard
    # deviation over groups of 4 measured ahead of the recipe without it on all three splits (docs/results.md 6g).
    "footage": _preset(
        model=dict(frames=16, size=32, g_width=16, d_width=16, upsample="resize", d_norm="none", d_minibatch_std=4),
        train=dict(batch_size=32, iterations=3000, lr=1e-3, beta1=0.0, beta2=0.99, r1_gamma=1.0, mask_l1=1.0,
                   ema_half_life=2000.0, log_every=100, sample_every=500,
                   checkpoint_every=500),
    ),
    # For tests and smoke runs: seconds per hundred iterations.
    "tiny": _preset(
        model=dict(frames=8, size=16, z_dim=16, g_width=8, d_width=8),
        # channels_last_3d: slower on its tiny layers (0.69x)
        train=dict(batch_size=4, iterations=20, log_every=5, sample_every=10, checkpoint_every=10, workers="0",
                   channels_last="off"),
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
# The footage recipe at the paper's 32 x 64 x 64, widths and batch: for a GPU (unmeasured at this size; on 2 CPU
# cores an iteration takes seconds)
PRESETS["footage-large"] = replace(PRESETS["footage"], model={"frames": 32, "size": 64, "g_width": 64, "d_width": 64},
                                   train={"batch_size": 64, "iterations": 30_000, "log_every": 100,
                                          "sample_every": 1000, "checkpoint_every": 1000})
# channels_last_3d (auto) stays the CPU default of `paper`, `cpu` and `future-cpu`, where it measured faster
# (1.07x-1.27x, 1.17x, 1.08x); with the paper's widths doubled it tied (0.97x), so future-paper keeps it off
PRESETS["future-paper"] = replace(PRESETS["future-paper"], train={"channels_last": "off"})


def get_preset(name: str) -> RunConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}") from None


def default_preset(task: str | None) -> str:
    """The preset a command starts from when none is named: `cpu`, or `future-cpu` for --task future."""
    return "future-cpu" if task == "future" else "cpu"
