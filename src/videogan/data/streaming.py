"""Training clips streamed from shards at a URL (remote.py), as WebDataset reads them: whole shards in a
shuffled order, clips mixed in a shuffle buffer.

Division of the work: every epoch the shard list is permuted by (seed, epoch), and shard i of that order
goes to loader slot i mod S, S = ranks x workers, slot = rank x workers + worker. Each slot reads its shards
front to back and mixes their clips in a buffer of `SHUFFLE_BUFFER` clips; the buffer is emptied at the end
of the slot's epoch, so no clip is read twice in an epoch. With fewer shards than slots, each rank runs
fewer workers (every slot gets a shard); fewer shards than ranks is refused. Slots may be at different
epochs: each rank's stream never ends, so ranks always draw the same number of batches.

Position: each slot's (epoch, shards finished), a shard being finished once every clip of it has left the
buffer into a batch the training loop took. `StreamLoader.position()` gathers every rank's slots into the
checkpoint; a resume with the same ranks and workers starts each slot at its first unfinished shard, so no
clip is skipped and only the clips of the shards in flight at the stop (at most a buffer's worth and a
shard per slot) are seen again. With other ranks or workers the slots differ: every slot restarts at the
earliest saved epoch's beginning.

A shard that fails mid-stream (reset, timeout, truncated body) is fetched again `RETRIES` times with a
doubling pause, resuming after the clips already read; then it is skipped with a warning naming its URL
and the reason, and training goes on. `MAX_FAILED_IN_A_ROW` shards skipped one after another (or every
shard of a slot's epoch) stop the run with one line: then the source, not a shard, is broken.
"""
from __future__ import annotations

import logging
import time
import zlib
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..stop_signals import helper_loader_options
from .clips import adapt_clip, clip_bytes
from .remote import list_shards, open_filesystem, read_manifest, stream_members
from .shards import decode_clip

log = logging.getLogger(__name__)
SHUFFLE_BUFFER = 512  # clips, kept encoded: about 30 MB of paper-sized JPEG clips per worker
RETRIES = 3
BACKOFF_S = 1.0  # the first retry's pause; each next one doubles it
MAX_FAILED_IN_A_ROW = 8  # shards skipped one after another before a slot gives up: the source is broken


class NoRandomAccess(ValueError, TypeError):
    """A ValueError for the user's one-line message, and a TypeError, which is what `list()` and other
    callers of `len()` take as "no length" and go on."""


class StreamedShards(IterableDataset):
    """Endless `{"video": 3 t h w uint8, "slot", "epoch", "done"}` items from shards at `url`, adapted to
    `frames` x `size` x `size`; `rank`, `world_size`, `workers` and `start` are set by `StreamLoader`."""

    def __init__(self, url: str, frames: int, size: int, seed: int = 0):
        self.url, self.frames, self.size, self.seed = url.rstrip("/"), frames, size, seed
        self.shards = list_shards(self.url)
        self.rank, self.world_size, self.workers = 0, 1, 1
        self.start: dict[int, tuple[int, int]] = {}  # slot -> (epoch, shards finished)
        self.failed_in_a_row = 0

    def _random_access(self, *index):
        """What needs any clip at any time (the future task's fixed clips, the baseline's subsets) is refused."""
        raise NoRandomAccess(f"--data {self.url}: streamed shards are read in order only, and this command needs any "
                         f"clip at any time: copy the prepared folder and give its local path")

    __len__ = __getitem__ = _random_access

    def slot_shards(self, epoch: int, slot: int, slots: int) -> list[str]:
        """The shards `slot` of `slots` reads in `epoch`, in reading order."""
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.shards))
        return [self.shards[i] for i in order[slot::slots]]

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        slot = self.rank * self.workers + (info.id if info is not None else 0)
        fs, _ = open_filesystem(self.url)
        epoch, done = self.start.get(slot, (0, 0))
        while True:
            delivered = 0
            for item in self._epoch(fs, epoch, slot, done):
                delivered += 1
                yield item
            if delivered == 0 and done == 0:
                raise RuntimeError(f"--data {self.url}: every shard of loader slot {slot} failed in epoch {epoch} "
                                   f"(see the warnings above)")
            epoch, done = epoch + 1, 0

    def _epoch(self, fs, epoch: int, slot: int, done: int) -> Iterator[dict]:
        """The slot's clips of `epoch` from its shard number `done` on, through the shuffle buffer."""
        shards = self.slot_shards(epoch, slot, self.world_size * self.workers)
        rng = np.random.default_rng([self.seed, epoch, slot, done])
        buffer: list[tuple[int, dict, bytes]] = []  # (shard number, manifest line, bytes)
        in_buffer: dict[int, int] = {}  # shard number -> its clips in the buffer

        def take() -> dict | None:
            index = int(rng.integers(len(buffer)))
            buffer[index], buffer[-1] = buffer[-1], buffer[index]
            number, record, data = buffer.pop()
            in_buffer[number] -= 1
            finished = min([n for n, count in in_buffer.items() if count] + [reading])
            return self._item(shards[number], record, data, epoch, slot, finished)

        for reading in range(done, len(shards)):
            for record, data in self._clips(fs, shards[reading]):
                buffer.append((reading, record, data))
                in_buffer[reading] = in_buffer.get(reading, 0) + 1
                if len(buffer) >= SHUFFLE_BUFFER and (item := take()) is not None:
                    yield item
        reading = len(shards)
        while buffer:
            if (item := take()) is not None:
                yield item

    def _item(self, shard: str, record: dict, data: bytes, epoch: int, slot: int, done: int) -> dict | None:
        try:
            video = decode_clip(f"{shard}.tar", record, data)
        except ValueError as err:  # a damaged clip: named, and the next one is served
            log.warning("skipping %s", err)
            return None
        crop = np.random.default_rng([self.seed, epoch, zlib.crc32(record["key"].encode())])
        clip = clip_bytes(adapt_clip(video, self.frames, self.size, crop))
        return {"video": clip, "slot": slot, "epoch": epoch, "done": done}

    def _clips(self, fs, shard: str) -> Iterator[tuple[dict, bytes]]:
        """`shard`'s clips, fetched again after a failure (from the next unread clip), skipped after `RETRIES`."""
        records, read = None, 0
        for attempt in range(RETRIES + 1):
            try:
                records = records if records is not None else read_manifest(fs, shard)
                for record, data in stream_members(fs, shard, records, skip=read):
                    read += 1
                    yield record, data
                self.failed_in_a_row = 0
                return
            except Exception as err:  # whatever the transport raises: a reset, a timeout, a truncated body
                reason = f"{type(err).__name__}: {err}"
                if attempt < RETRIES:
                    pause = BACKOFF_S * 2 ** attempt
                    log.warning("shard %s.tar failed after %d clips (%s); fetching it again in %g s",
                                shard, read, reason, pause)
                    time.sleep(pause)
        log.warning("skipping shard %s.tar after %d attempts (%d clips read): %s", shard, RETRIES + 1, read, reason)
        self.failed_in_a_row += 1
        if self.failed_in_a_row >= MAX_FAILED_IN_A_ROW:
            raise RuntimeError(f"--data {self.url}: {self.failed_in_a_row} shards in a row failed, the last "
                               f"{shard}.tar ({reason}): the source, not one shard, is broken")


class StreamLoader:
    """Batches (b 3 t h w uint8) of a `StreamedShards` for one rank, remembering where each of its slots
    stands in the batches the training loop has taken."""

    def __init__(self, dataset: StreamedShards, batch_size: int, workers: int, rank: int, world_size: int,
                 pin_memory: bool = False, position: dict | None = None):
        if len(dataset.shards) < world_size:
            raise ValueError(f"--data {dataset.url}: {len(dataset.shards)} shard(s) cannot feed {world_size} ranks "
                             f"(prepare with a smaller --shard-clips)")
        usable = min(workers, len(dataset.shards) // world_size)
        if 0 < usable < workers:
            log.warning("--data %s: %d shards feed %d loader worker(s) per rank, not %d (every worker needs a shard)",
                        dataset.url, len(dataset.shards), usable, workers)
        dataset.rank, dataset.world_size, dataset.workers = rank, world_size, max(usable, 1)
        dataset.start = starting_slots(position, world_size * dataset.workers)
        self.dataset = dataset
        self.slots = dict(dataset.start)
        self.loader = DataLoader(dataset, batch_size=batch_size, pin_memory=pin_memory, persistent_workers=usable > 0,
                                 prefetch_factor=4 if usable > 0 else None, **helper_loader_options(usable))

    def __iter__(self) -> Iterator[torch.Tensor]:
        for batch in self.loader:
            # a batch comes from one worker; its last clip says where that worker's slot stands
            self.slots[int(batch["slot"][-1])] = (int(batch["epoch"][-1]), int(batch["done"][-1]))
            yield batch["video"]

    def position(self) -> dict:
        """Every rank's slots as plain data, for the checkpoint (a collective call under torchrun)."""
        first = self.dataset.rank * self.dataset.workers
        mine = [list(self.slots.get(first + worker, (0, 0))) for worker in range(self.dataset.workers)]
        if dist.is_available() and dist.is_initialized():
            every = [None] * self.dataset.world_size
            dist.all_gather_object(every, mine)
            mine = [slot for rank in every for slot in rank]
        return {"url": self.dataset.url, "slots": mine}


def starting_slots(position: dict | None, slots: int) -> dict[int, tuple[int, int]]:
    """Each slot's (epoch, shards finished) to resume from a checkpoint's `position`."""
    if not position:
        return {}
    saved = [tuple(slot) for slot in position["slots"]]
    if len(saved) == slots:
        return dict(enumerate(saved))
    earliest = min(epoch for epoch, _ in saved)  # another layout of slots: whole epochs only
    return {slot: (earliest, 0) for slot in range(slots)}
