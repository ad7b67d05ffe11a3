"""Data-parallel training under torchrun, without DistributedDataParallel.

Why not DDP: D runs two forwards (real, then fake) before one backward. DDP's default
`broadcast_buffers=True` copies BatchNorm's running statistics into place before every forward, and
cuDNN's BatchNorm backward has saved those very tensors: on CUDA the backward then fails with "one of
the variables needed for gradient computation has been modified by an inplace operation".
Here every rank keeps plain modules and nothing but BatchNorm itself touches a buffer between a
forward and its backward, so that error cannot arise. After each backward the gradients of the
network being updated are averaged over the ranks in one all-reduce (`average_gradients`): ranks start
from the same weights (one seed) and apply the same averaged update, so they stay identical.
Each rank's BatchNorm running statistics follow its own clips; they are averaged (`average_buffers`)
before anything uses or saves them (samples, checkpoints). With `--sync-bn` (CUDA) the batch statistics
themselves are computed over the global batch by SyncBatchNorm.

Stops (Ctrl-C / SIGTERM, `--max-minutes`, non-finite losses) are agreed by `StopVote`, so every rank
leaves the loop at the same iteration and none waits in an all-reduce for a rank that has gone.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from ..runtime import Runtime


def average_gradients(module: nn.Module, runtime: Runtime) -> None:
    """Replace every gradient of `module` by its mean over the ranks (one flat all-reduce, async on the
    device's stream: no host synchronisation)."""
    if not runtime.distributed:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat.div_(runtime.world_size)
    for grad, mean in zip(grads, _unflatten_dense_tensors(flat, grads)):
        grad.copy_(mean)


@torch.no_grad()
def average_buffers(module: nn.Module, runtime: Runtime) -> None:
    """BatchNorm running means and variances averaged over the ranks (counters are equal already)."""
    if not runtime.distributed:
        return
    for buffer in module.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer.div_(runtime.world_size)


def with_sync_batchnorm(module: nn.Module, runtime: Runtime) -> nn.Module:
    """`--sync-bn`: BatchNorm over the global batch (PyTorch implements it for CUDA only)."""
    if not runtime.distributed:
        return module
    if runtime.device.type != "cuda":
        raise ValueError("--sync-bn needs CUDA devices (PyTorch's SyncBatchNorm does not run on the CPU)")
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


class StopVote:
    """Every rank's reasons to stop, combined by one all-reduce of a few integers over a CPU (gloo) group,
    so the vote never waits for the GPU's queue. Reasons: "signal", "deadline", "nonfinite"."""

    REASONS = ("signal", "deadline", "nonfinite")

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.group = None
        if runtime.distributed:
            # `join_group`'s group has gloo for CPU tensors; a group of nccl alone gets a gloo one beside it
            self.group = dist.group.WORLD if "gloo" in str(dist.get_backend()) else dist.new_group(backend="gloo")

    def agree(self, **local: bool) -> str | None:
        """The first reason any rank has (the same answer on every rank), or None."""
        votes = torch.tensor([int(local.get(reason, False)) for reason in self.REASONS])
        if self.group is not None:
            dist.all_reduce(votes, op=dist.ReduceOp.MAX, group=self.group)
        return next((reason for reason, vote in zip(self.REASONS, votes.tolist()) if vote), None)
