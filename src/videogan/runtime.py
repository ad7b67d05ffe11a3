"""Where a process runs: its device, and its rank when launched by `torchrun` (no global state)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .config import DEVICE


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    in_group: bool = False  # joined a process group (started by torchrun, even as its only rank)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.in_group or self.world_size > 1


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """`auto` takes the GPU when there is one; `cpu`, `cuda`, `cuda:N` are taken as given."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if not DEVICE.fullmatch(name):
        raise ValueError(f"--device {name!r}: expected auto, cpu, cuda, cuda:N or mps")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def join_group() -> int:
    """Join torchrun's process group when started by it (WORLD_SIZE set: with one rank too, so that one GPU runs
    the collectives of many), once; returns this process's rank (0 alone). Called before anything the ranks
    must agree on (which checkpoint to resume), so before the run's device is known: gloo carries CPU tensors
    and objects, and nccl CUDA tensors when there is a GPU."""
    if "WORLD_SIZE" in os.environ and not dist.is_initialized():
        dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank() if dist.is_initialized() else 0


def setup_runtime(device: str = "auto") -> Runtime:
    """The run's device, in the process group when started by torchrun (`join_group`)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    dev = pick_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    rank = join_group()
    if dev.type == "cuda":
        torch.cuda.set_device(dev)  # before the first nccl collective, which binds the rank to its GPU
    return Runtime(dev, rank, world_size, in_group=dist.is_initialized())


def close_runtime(runtime: Runtime, finished: bool = True) -> None:
    """Leave the process group (torchrun), so that every rank exits cleanly. A rank that `finished` its work
    first waits for the others: one that tore its group down while rank 0 was still writing the
    checkpoint could abort at exit in gloo's threads ("terminate called without an active exception")."""
    if runtime.distributed and dist.is_initialized() and finished:
        dist.barrier()
    leave_group()


def leave_group() -> None:
    """Leave the process group, if in one, without waiting for the other ranks: after an error that every rank
    has seen, or when the command ends. A process that exits in its group can abort in gloo's threads."""
    if dist.is_initialized():
        dist.destroy_process_group()
