"""The order in which a run visits its training set: reproducible, sharded by rank, resumable."""
from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler[int]):
    """Endless stream of indices: epoch e is a permutation seeded by (seed, e), dealt round-robin to
    the ranks. `start` skips the samples this rank already consumed, so a resumed run sees exactly
    the data the uninterrupted run would have seen."""

    def __init__(self, length: int, seed: int, rank: int = 0, world_size: int = 1, start: int = 0):
        if length < world_size:
            raise ValueError(f"dataset has {length} items, fewer than the {world_size} ranks")
        self.length, self.seed, self.rank, self.world_size, self.start = length, seed, rank, world_size, start
        self.per_rank = length // world_size

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start, self.per_rank)
        while True:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(self.length, generator=generator)[self.rank::self.world_size][: self.per_rank]
            yield from order[offset:].tolist()
            epoch, offset = epoch + 1, 0
