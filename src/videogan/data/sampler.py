"""The order in which a run visits its training set: reproducible, sharded by rank, resumable."""
from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Dataset, Sampler


class ResumableSampler(Sampler[tuple[int, int]]):
    """Endless stream of (epoch, index): epoch e is a permutation seeded by (seed, e), dealt round-robin
    to the ranks. `start` skips the samples this rank already consumed, so a resumed run sees exactly
    the data the uninterrupted run would have seen. The epoch travels with each index (see
    `EpochDataset`) because DataLoader workers hold their own copies of the dataset."""

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
            yield from ((epoch, index) for index in order[offset:].tolist())
            epoch, offset = epoch + 1, 0


class EpochDataset(Dataset):
    """Serves `dataset[index]` for the sampler's (epoch, index), first telling datasets with random
    crops which epoch it is (`set_epoch`), so crops differ between epochs yet not between runs."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]
