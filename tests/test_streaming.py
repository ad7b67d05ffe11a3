"""Prepared shards read from a URL: a local HTTP server on 127.0.0.1 serves a folder of shards."""
import http.server
import logging
import subprocess
import sys
import threading
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from videogan.config import DataConfig, ModelConfig, replace
from videogan.data import build_dataset, remote, streaming
from videogan.data.remote import open_filesystem
from videogan.data.shards import SHARD_DIR, ShardWriter
from videogan.data.streaming import StreamedShards, StreamLoader
from videogan.checkpoint import list_checkpoints, load_checkpoint
from videogan.train.gan import train

SHARDS, CLIPS_PER_SHARD = 6, 3  # 18 clips; 6 shards over 2 ranks x 2 workers: slots with 1 and with 2 shards


def write_shards(out: Path, shards: int = SHARDS, per_shard: int = CLIPS_PER_SHARD, clip_format: str = "raw",
                 frames: int = 4, size: int = 8) -> None:
    """Clip n is constant grey level n (raw: read back exactly, so a clip names itself)."""
    writer = ShardWriter(out / SHARD_DIR, "0000-test", max_clips=per_shard, max_inputs=10 ** 6,
                         max_seconds=10 ** 6, clip_format=clip_format)
    for n in range(shards * per_shard):
        writer.add_clip(f"clip{n:03d}", np.full((frames, size, size, 3), n, np.uint8), {"source": f"v{n}"})
        writer.end_input({"source": f"v{n}", "status": "ok"})
    writer.close()


def clip_number(video: torch.Tensor) -> int:
    """The grey level of a 3 t h w uint8 clip written by `write_shards`."""
    assert video.dtype == torch.uint8 and int(video.min()) == int(video.max())
    return int(video[0, 0, 0, 0])


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves its folder; `faults` maps a file name to how many more times its body is cut short, and
    `die_on` names a file whose request stops the whole server mid-body."""
    faults: dict[str, int] = {}
    die_on: str = ""

    def log_message(self, *args):
        pass

    def copyfile(self, source, outputfile):
        name = Path(self.path).name
        if self.faults.get(name, 0) > 0 or name == self.die_on:
            self.faults[name] = self.faults.get(name, 0) - 1
            data = source.read()
            outputfile.write(data[:2048])  # a raw test shard's first clip and the next header; all promised
            self.close_connection = True
            if name == self.die_on:
                threading.Thread(target=lambda: (self.server.shutdown(), self.server.server_close()),
                                 daemon=True).start()
            return
        super().copyfile(source, outputfile)


@contextmanager
def serving(folder: Path, faults: dict | None = None, die_on: str = "", limit_s: float = 240):
    """`folder` at http://127.0.0.1:PORT, in a thread; stops on leaving, or by itself after `limit_s`."""
    handler = type("TestHandler", (Handler,), {"faults": dict(faults or {}), "die_on": die_on})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    watchdog = threading.Timer(limit_s, server.shutdown)
    thread.start()
    watchdog.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        watchdog.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def epoch_clips(dataset: StreamedShards, epoch: int = 0) -> list[int]:
    """The clips the dataset's slot delivers in `epoch` (read in this process)."""
    clips = []
    for item in dataset:
        if item["epoch"] > epoch:
            return clips
        clips.append(clip_number(item["video"]))
    raise AssertionError("the stream ended")


@pytest.fixture
def prepared(tmp_path):
    write_shards(tmp_path / "prep")
    return tmp_path / "prep"


def test_ranks_and_workers_read_every_clip_once_per_epoch(prepared, monkeypatch):
    """2 ranks x 2 workers: each (rank, worker) slot streamed as its DataLoader worker would stream it."""
    with serving(prepared) as url:
        dataset = StreamedShards(f"{url}/", frames=4, size=8, seed=3)
        assert len(dataset.shards) == SHARDS and all(s.startswith(f"{url}/shards/") for s in dataset.shards)
        dataset.world_size, dataset.workers = 2, 2
        for epoch in (0, 1):
            seen, orders = [], []
            for rank in (0, 1):
                for worker in (0, 1):
                    monkeypatch.setattr(streaming, "get_worker_info", lambda w=worker: type("Info", (), {"id": w}))
                    dataset.rank, dataset.start = rank, {rank * 2 + worker: (epoch, 0)}
                    clips = epoch_clips(dataset, epoch)
                    assert len(clips) in (CLIPS_PER_SHARD, 2 * CLIPS_PER_SHARD)  # 6 shards over 4 slots
                    seen += clips
                    orders.append(dataset.slot_shards(epoch, rank * 2 + worker, 4))
            assert sorted(seen) == list(range(SHARDS * CLIPS_PER_SHARD))  # every clip, once
            assert sorted(sum(orders, [])) == sorted(dataset.shards)
        assert dataset.slot_shards(0, 0, 4) != dataset.slot_shards(1, 0, 4) or \
            dataset.slot_shards(0, 1, 4) != dataset.slot_shards(1, 1, 4)  # each epoch reshuffles the shards


def test_loader_workers_and_a_resume_within_the_epoch(prepared, monkeypatch):
    """Real DataLoader workers; a loader resumed from `position()` reads again exactly the shards the
    first one had not finished: no clip skipped, none of a finished shard repeated."""
    monkeypatch.setattr(streaming, "SHUFFLE_BUFFER", 2)  # shards finish while the epoch goes on
    with serving(prepared) as url:
        loader = StreamLoader(StreamedShards(url, 4, 8, seed=1), batch_size=1, workers=2, rank=0, world_size=1)
        stream = iter(loader)
        first = [clip_number(next(stream)[0]) for _ in range(10)]  # 6 shards: 3 per worker, 9 clips each
        position = loader.position()
        assert position["url"] == url and [epoch for epoch, _ in position["slots"]] == [0, 0]
        finished = sum(done for _, done in position["slots"])
        assert finished >= 1
        resumed = StreamLoader(StreamedShards(url, 4, 8, seed=1), 1, 2, 0, 1, position=position).dataset
        again = _slot(resumed, 0) + _slot(resumed, 1)  # the rest of epoch 0, as its workers read it
    assert len(again) == (SHARDS - finished) * CLIPS_PER_SHARD
    assert set(first) | set(again) == set(range(SHARDS * CLIPS_PER_SHARD))


def _slot(dataset: StreamedShards, worker: int) -> list[int]:
    """The clips of epoch 0 the slot of `worker` (rank 0) delivers, read in this process."""
    original = streaming.get_worker_info
    streaming.get_worker_info = lambda: type("Info", (), {"id": worker})
    try:
        return epoch_clips(dataset, 0)
    finally:
        streaming.get_worker_info = original


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(streaming, "BACKOFF_S", 0.01)
    monkeypatch.setattr(remote, "READ_TIMEOUT_S", 5.0)


def test_a_truncated_shard_is_fetched_again(prepared, fast_retries, caplog):
    name = sorted(p.name for p in (prepared / SHARD_DIR).glob("*.tar"))[2]
    with serving(prepared, faults={name: 2}) as url, caplog.at_level(logging.WARNING):
        clips = epoch_clips(StreamedShards(url, 4, 8))
    assert sorted(clips) == list(range(SHARDS * CLIPS_PER_SHARD))  # nothing lost, nothing twice
    retries = [r.getMessage() for r in caplog.records if "fetching it again" in r.getMessage()]
    assert len(retries) == 2 and all(name in line for line in retries)


def test_a_shard_that_keeps_failing_is_skipped_with_a_warning_and_reading_goes_on(prepared, fast_retries, caplog):
    name = sorted(p.name for p in (prepared / SHARD_DIR).glob("*.tar"))[2]
    with serving(prepared, faults={name: 100}) as url, caplog.at_level(logging.WARNING):
        dataset = StreamedShards(url, 4, 8)
        clips = epoch_clips(dataset)
    lost = set(range(6, 9)) - set(clips)  # shard 2 holds clips 6-8; any read before the cut are kept
    assert lost and sorted(clips) == sorted(set(range(SHARDS * CLIPS_PER_SHARD)) - lost)
    skipped = {r.getMessage().split(" (")[0] for r in caplog.records if r.getMessage().startswith("skipping shard")}
    assert skipped == {f"skipping shard {url}/shards/{name} after 4 attempts"}


def test_a_server_that_dies_mid_stream_costs_its_shards_then_stops_the_run(prepared, fast_retries, caplog):
    with serving(prepared) as url:
        order = [Path(s).name for s in StreamedShards(url, 4, 8).slot_shards(0, 0, 1)]
    with serving(prepared, die_on=f"{order[1]}.tar") as url, caplog.at_level(logging.WARNING):
        dataset, clips = StreamedShards(url, 4, 8), []
        with pytest.raises(RuntimeError, match="8 shards in a row failed.*not one shard, is broken"):
            for item in dataset:  # epoch 0 reads what it can
                clips.append(clip_number(item["video"]))
    assert len(clips) == len(set(clips)) >= CLIPS_PER_SHARD  # the first shard's clips and more, none twice
    skipped = {r.getMessage() for r in caplog.records if r.getMessage().startswith("skipping shard")}
    assert {f"{url}/shards/{name}.tar" for name in order[1:]} <= {line.split()[2] for line in skipped}


def test_a_source_that_keeps_failing_stops_the_run(prepared, fast_retries, monkeypatch):
    monkeypatch.setattr(streaming, "MAX_FAILED_IN_A_ROW", 3)
    faults = {p.name: 100 for p in (prepared / SHARD_DIR).glob("*.tar")}
    with serving(prepared, faults=faults) as url:
        with pytest.raises(RuntimeError, match="3 shards in a row failed.*the source, not one shard, is broken"):
            list(StreamedShards(url, 4, 8))


def test_train_from_an_http_url_and_resume(tmp_path, tiny_config):
    write_shards(tmp_path / "prep", clip_format="jpeg", frames=8, size=16)  # the default format
    with serving(tmp_path / "prep") as url:
        config = replace(tiny_config, data={"data": url}, train={"iterations": 2, "workers": "2"})
        train(config, tmp_path / "run", progress=False)
        state = load_checkpoint(list_checkpoints(tmp_path / "run")[-1])
        assert state["data_position"]["url"] == url and len(state["data_position"]["slots"]) == 2
        train(replace(config, train={"iterations": 4}), tmp_path / "run", resume=True, progress=False)
    assert load_checkpoint(list_checkpoints(tmp_path / "run")[-1])["iteration"] == 4


def test_bad_urls_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match=r"unknown protocol nosuch://"):
        open_filesystem("nosuch://bucket/x")
    with pytest.raises(ValueError, match=r"s3fs"):
        open_filesystem("s3://bucket/prepared")
    with serving(tmp_path) as url:
        with pytest.raises(ValueError, match=rf"cannot list {url}/shards/"):
            build_dataset(DataConfig(data=url), ModelConfig(frames=8, size=16))
    write_shards(tmp_path)
    with serving(tmp_path) as url:  # what needs any clip at any time (the future task's fixed clips) is refused
        with pytest.raises(ValueError, match="read in order only.*give its local path"):
            build_dataset(DataConfig(data=url), ModelConfig(frames=4, size=8))[0]
    out = subprocess.run([sys.executable, "-m", "videogan.cli", "train", "--data", "s3://bucket/prepared",
                          "--preset", "tiny", "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert out.returncode == 2 and "s3fs" in out.stderr and "Traceback" not in out.stderr


def test_two_ranks_with_two_workers_each_train_from_http_and_resume(tmp_path):
    from test_distributed import _finish, _start_ranks, without_preset

    write_shards(tmp_path / "prep", shards=8, clip_format="jpeg", frames=8, size=16)
    run = tmp_path / "run"
    with serving(tmp_path / "prep") as url:
        command = ["-m", "videogan.cli", "train", "--data", url, "--preset", "tiny", "--device", "cpu",
                   "--no-progress", "--workers", "2", "--checkpoint-every", "2"]
        _finish(_start_ranks([*command, "--iterations", "2", "--out", str(run)]))
        slots = load_checkpoint(list_checkpoints(run)[-1])["data_position"]["slots"]
        assert len(slots) == 4 and all(epoch == 0 for epoch, _ in slots)  # every rank's workers, gathered
        _finish(_start_ranks([*without_preset(command), "--iterations", "4", "--resume", str(run)]))
    assert load_checkpoint(list_checkpoints(run)[-1])["iteration"] == 4
