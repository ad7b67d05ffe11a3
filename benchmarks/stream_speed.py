"""Loader capacity: clips/s one loader worker delivers from prepared shards read locally (random access)
and over HTTP (streamed from a `python -m http.server`-like server on 127.0.0.1), taken in turn in one run;
and how many workers keep one GPU fed at the paper preset's consumption.

    PYTHONPATH=src python benchmarks/stream_speed.py PREPARED [--clips 256] [--rounds 3] [--mfu 0.4]

The GPU's consumption is estimated, not measured: FLOPs of one paper-preset iteration (counted as
benchmarks/gpu_train_speed.py counts them) over `--mfu` of an H100's dense bf16 peak (989 TFLOP/s).
"""
from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import videogan  # noqa: F401  (before torch: it sets OpenMP's wait policy)
import torch

from videogan.config import PRESETS, replace
from videogan.data.clips import clip_bytes
from videogan.data.formats import open_dataset
from videogan.data.streaming import StreamedShards

sys.path.insert(0, str(Path(__file__).parent))
from gpu_train_speed import iteration_flops  # noqa: E402  (this script's folder)

H100_BF16_DENSE = 989e12


def serve(folder: Path) -> tuple[subprocess.Popen, str]:
    """`python -m http.server` on `folder` in its own process (in ours it would take turns on the GIL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"http://127.0.0.1:{port}"
        time.sleep(0.1)
    server.kill()
    raise RuntimeError("the HTTP server did not start")


def local_rate(prepared: Path, clips: int, frames: int, size: int) -> float:
    """Clips/s of the local reader in one process (one worker's work): random order, as training reads, and
    to uint8 as its loader sends them (the stream does both too)."""
    dataset = open_dataset(prepared, frames=frames, size=size)
    start = time.perf_counter()
    for index in torch.randint(len(dataset), (clips,)).tolist():
        clip_bytes(dataset[index]["video"])
    return clips / (time.perf_counter() - start)


def http_rate(url: str, clips: int, frames: int, size: int) -> float:
    """Clips/s of the HTTP stream in one process (one worker's slot): listing, fetching, the shuffle buffer
    and decoding all counted (use several epochs' clips: the buffer fills again at each epoch's start)."""
    start = time.perf_counter()
    stream = iter(StreamedShards(url, frames, size))
    for _ in range(clips):
        next(stream)
    return clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prepared", type=Path, help="a folder `videogan prepare` wrote")
    parser.add_argument("--clips", type=int, default=360, help="clips timed per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="measurements of each source, taken in turn")
    parser.add_argument("--mfu", type=float, default=0.4, help="fraction of the H100's bf16 dense peak assumed")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one worker's share of the machine
    paper = PRESETS["paper"]
    frames, size = paper.model.frames, paper.model.size
    server, url = serve(args.prepared)
    rates = {"local": [], "http": []}
    try:
        for _ in range(args.rounds):
            rates["local"].append(local_rate(args.prepared, args.clips, frames, size))
            rates["http"].append(http_rate(url, args.clips, frames, size))
    finally:
        server.terminate()
        server.wait()
    for source, values in rates.items():
        print(f"{source:5s} clips/s per worker: median {statistics.median(values):6.1f}  best {max(values):6.1f}  "
              f"all {', '.join(f'{v:.1f}' for v in values)}")
    batch = 2  # FLOPs grow with the batch in proportion: count a small one on the CPU
    flops_per_clip = iteration_flops(replace(paper, train={"batch_size": batch}), torch.device("cpu")) / batch
    consumed = args.mfu * H100_BF16_DENSE / flops_per_clip
    print(f"paper preset: {flops_per_clip / 1e9:.1f} GFLOP per clip (one iteration's FLOPs / its batch); at "
          f"{100 * args.mfu:.0f}% of {H100_BF16_DENSE / 1e12:.0f} TFLOP/s one H100 consumes {consumed:.0f} clips/s")
    for source, values in rates.items():
        print(f"{source:5s} workers to feed it: {consumed / statistics.median(values):.0f} at the median rate, "
              f"{consumed / max(values):.0f} at the best")


if __name__ == "__main__":
    main()
