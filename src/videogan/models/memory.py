"""The memory a configuration needs, estimated before anything is allocated, and the memory a device has.

The networks are built on torch's `meta` device, which records shapes and allocates nothing, so a width of
a million costs nothing to measure. Training keeps, per parameter, the weight, its gradient and Adam's two
moments (plus the average of G's weights with --ema-half-life); per clip, the layers' outputs that autograd
saves for the backward pass: G's, D's on the fakes (the generator's step) and D's on the real clips.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

from ..config import ModelConfig, RunConfig
from .describe import network_tables

FLOAT_BYTES = 4
# Bytes autograd and the backward pass hold per byte of layer output (saved inputs, gradients of the same
# size; in-place activations share theirs). Calibrated against the peak RSS of short CPU trainings of the
# tiny, cpu, demo and paper presets (benchmarks/memory_estimate.py, docs/reliability.md).
AUTOGRAD_FACTOR = 2
# What a process holds before its first tensor: torch's libraries and the allocator's arenas (CPU).
RUNTIME_BYTES = 500 * 2 ** 20


class MemoryTooSmall(ValueError):
    """A configuration that cannot fit in the memory of the device it would run on."""


@dataclass(frozen=True)
class NetworkSizes:
    g_params: int
    d_params: int
    g_outputs: int  # elements of every layer output for one clip
    d_outputs: int


def network_sizes(cfg: ModelConfig) -> NetworkSizes:
    """Parameters and per-clip layer outputs of G and D (measured on the meta device: no allocation)."""
    tables = network_tables(cfg)
    outputs = {name: sum(math.prod(row["output"]) for row in table["layers"]) for name, table in tables.items()}
    return NetworkSizes(tables["generator"]["params"], tables["discriminator"]["params"],
                        outputs["generator"], outputs["discriminator"])


def training_bytes(config: RunConfig) -> int:
    """Bytes one process needs to train `config` (its batch is per rank)."""
    sizes, batch = network_sizes(config.model), config.train.batch_size
    state = FLOAT_BYTES * (4 * (sizes.g_params + sizes.d_params)
                           + (sizes.g_params if config.train.ema_half_life > 0 else 0))
    outputs = FLOAT_BYTES * AUTOGRAD_FACTOR * batch * (sizes.g_outputs + 2 * sizes.d_outputs)
    return RUNTIME_BYTES + state + outputs


def inference_bytes(cfg: ModelConfig, batch: int) -> int:
    """Bytes a process needs to run G on `batch` codes without gradients (sampling): its weights, and
    its two largest consecutive layer outputs at a time, bounded here by all of them."""
    sizes = network_sizes(cfg)
    return RUNTIME_BYTES + FLOAT_BYTES * (sizes.g_params + batch * sizes.g_outputs)


def available_bytes(device: torch.device) -> int:
    """Memory free for new allocations: the GPU's free memory, or the machine's available memory."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):  # not Linux: free pages
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def gib(n: int) -> str:
    return f"{n / 2 ** 30:,.1f} GiB"


def check_fits(needed: int, device: torch.device, what: str) -> None:
    """Refuse, in one line with the numbers, what needs more than `device` has free."""
    free = available_bytes(device)
    if needed > free:
        where = f"the GPU {device}" if device.type == "cuda" else "this machine"
        raise MemoryTooSmall(f"{what} needs about {gib(needed)} of memory, but {where} has {gib(free)} available; "
                             "give a smaller --batch-size, --size, --frames, --z-dim, --g-width or --d-width")
