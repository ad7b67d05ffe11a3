"""How to store a prepared clip: bytes per clip, encode and decode clips/s on one core, and fidelity
(PSNR against the raw clip; FVD of decoded against raw real clips, next to the real-vs-real floor) for
raw `.npy`, JPEG strips and video codecs through PyAV, on clips `videogan prepare` wrote.

    OMP_NUM_THREADS=1 videogan prepare ../shared/data/weizmann-4 /tmp/weiz-prep
    mkdir /tmp/bikes && cp .cache/footage/bikes.mp4 /tmp/bikes/
    OMP_NUM_THREADS=1 videogan prepare /tmp/bikes /tmp/bikes-prep --stride 8
    PYTHONPATH=src python benchmarks/clip_codecs.py weizmann-4=/tmp/weiz-prep bikes=/tmp/bikes-prep \
        --fvd-set weizmann-4 --fvd-clips 64 --json benchmarks/clip_codecs.json

`jpeg` and `raw` are the shard formats as `prepare` writes them (clip_formats.py); the other candidates
are defined here. FVD (first 16 frames, as the metric's protocol) splits the clips by recording into
halves A and B (weizmann-4 files 2k and 2k+1 are one recording mirrored, kept on one side): the floor is
FVD(raw A, raw B); a codec's is FVD(decoded A, raw B), and FVD(decoded A, raw A) the shift it alone adds.
Lossless candidates are checked bit for bit instead (their FVD is the raw clips' by construction).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av
import cv2
import numpy as np
import torch
from PIL import Image

from videogan.data.clip_formats import FORMATS, JPEG_QUALITY
from videogan.data.shards import SHARD_DIR, load_clip, read_manifests


@dataclass(frozen=True)
class Candidate:
    name: str
    encode: Callable[[np.ndarray], bytes]
    decode: Callable[[bytes, int], np.ndarray]
    lossless: bool


def jpeg_pil(quality: int, subsampling: int):
    def encode(video):
        buffer = io.BytesIO()
        Image.fromarray(video.reshape(-1, *video.shape[2:])).save(buffer, format="JPEG", quality=quality,
                                                                   subsampling=subsampling)
        return buffer.getvalue()
    return encode


def decode_jpeg_cv2(data: bytes, frames: int) -> np.ndarray:
    strip = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # t*h w 3 BGR
    return cv2.cvtColor(strip, cv2.COLOR_BGR2RGB).reshape(frames, -1, strip.shape[1], 3)


def video_codec(codec: str, pix_fmt: str, options: dict[str, str]):
    """Encode/decode through PyAV in an in-memory Matroska file, one thread each way."""
    def encode(video):
        buffer = io.BytesIO()
        with av.open(buffer, mode="w", format="matroska") as container:
            stream = container.add_stream(codec, rate=25)
            stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], pix_fmt
            stream.options = options
            stream.codec_context.thread_count = 1
            for frame in video:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
        return buffer.getvalue()

    def decode(data, frames):
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            stream.thread_count = 1
            out = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        assert len(out) == frames, (len(out), frames)
        return out
    return encode, decode


def candidates() -> list[Candidate]:
    raw, jpeg = FORMATS["raw"], FORMATS["jpeg"]
    probe = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    assert jpeg.encode(probe) == jpeg_pil(JPEG_QUALITY, 0)(probe), "the shard format is one of the candidates"
    h264 = video_codec("libx264", "yuv420p", {"crf": "18", "preset": "medium"})
    h264_444 = video_codec("libx264", "yuv444p", {"crf": "18", "preset": "medium"})
    h264_lossless = video_codec("libx264rgb", "rgb24", {"qp": "0", "preset": "medium"})
    ffv1 = video_codec("ffv1", "bgr0", {})
    return [
        Candidate("raw (npy)", raw.encode, raw.decode, True),
        Candidate("jpeg q95 4:4:4", jpeg_pil(95, 0), jpeg.decode, False),
        Candidate("jpeg q90 4:4:4", jpeg_pil(90, 0), jpeg.decode, False),
        Candidate("jpeg q90 4:4:4, OpenCV decode", jpeg_pil(90, 0), decode_jpeg_cv2, False),
        Candidate("jpeg q90 4:2:0", jpeg_pil(90, 2), jpeg.decode, False),
        Candidate("h264 crf18 yuv420p", *h264, False),
        Candidate("h264 crf18 yuv444p", *h264_444, False),
        Candidate("h264 lossless rgb", *h264_lossless, True),
        Candidate("ffv1 lossless", *ffv1, True),
    ]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def read_clips(folder: Path) -> tuple[list[np.ndarray], list[str]]:
    records, _ = read_manifests(folder / SHARD_DIR)
    records.sort(key=lambda r: (r["source"], r["start"]))
    return [load_clip(folder / SHARD_DIR, r) for r in records], [r["source"] for r in records]


def seconds(fn, items) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return time.perf_counter() - start


def measure_set(clips: list[np.ndarray], rounds: int) -> dict:
    """Per candidate: size and fidelity, then clips/s, the best of `rounds` passes taken in turn across the
    candidates (the machine is shared: interleaving exposes every candidate to the same load, and the best
    pass is the least disturbed)."""
    results, timed = {}, []
    for c in candidates():
        encoded = [c.encode(v) for v in clips]
        decoded = [c.decode(e, len(v)) for e, v in zip(encoded, clips)]
        exact = all(np.array_equal(d, v) for d, v in zip(decoded, clips))
        assert exact or not c.lossless, f"{c.name} is not lossless"
        values = [psnr(d, v) for d, v in zip(decoded, clips)]
        results[c.name] = {"bytes_per_clip": float(np.mean([len(e) for e in encoded])), "bit_exact": exact,
                           "psnr_mean_db": None if exact else float(np.mean(values)),
                           "psnr_min_db": None if exact else float(np.min(values))}
        timed.append((c, [(e, len(v)) for e, v in zip(encoded, clips)]))
    best = {c.name: [math.inf, math.inf] for c, _ in timed}
    encoding = clips[:16]  # encoders are slow (H.264: tens of clips/s): a sample
    for _ in range(rounds):
        for c, pairs in timed:
            best[c.name][0] = min(best[c.name][0], seconds(c.encode, encoding))
            best[c.name][1] = min(best[c.name][1], seconds(lambda pair: c.decode(*pair), pairs))
    for c, pairs in timed:
        results[c.name].update(encode_clips_per_s=len(encoding) / best[c.name][0],
                               decode_clips_per_s=len(pairs) / best[c.name][1])
        print(f"  {c.name}: {results[c.name]}", file=sys.stderr)
    return results


def halves_by_recording(sources: list[str], n: int) -> tuple[list[int], list[int]]:
    """Clip indices of two halves of `n` clips each side n/2, no recording on both sides (weizmann-4 file
    numbers 2k and 2k+1 are one recording mirrored)."""
    def recording(source):
        digits = re.findall(r"\d+", Path(source).stem)
        return (Path(source).parent.as_posix(), int(digits[-1]) // 2 if digits else source)
    recordings = sorted({recording(s) for s in sources})
    side = {r: i % 2 for i, r in enumerate(recordings)}
    a = [i for i, s in enumerate(sources) if side[recording(s)] == 0]
    b = [i for i, s in enumerate(sources) if side[recording(s)] == 1]
    rng = np.random.default_rng(0)
    return sorted(rng.choice(a, n // 2, replace=False)), sorted(rng.choice(b, n // 2, replace=False))


def measure_fvd(clips: list[np.ndarray], sources: list[str], n: int) -> dict:
    from videogan.eval.fvd import embed_videos, frechet_distance
    from videogan.eval.weights import load_i3d

    model = load_i3d()
    a, b = halves_by_recording(sources, n)
    started = time.perf_counter()
    raw_a = embed_videos([clips[i] for i in a], model, progress="raw A")
    raw_b = embed_videos([clips[i] for i in b], model, progress="raw B")
    result = {"clips_per_half": len(a), "floor_raw_a_vs_raw_b": frechet_distance(raw_a, raw_b), "codecs": {}}
    for c in candidates():
        if c.lossless or "OpenCV" in c.name:  # lossless: raw's FVD; OpenCV: the same bytes as PIL's
            continue
        decoded_a = embed_videos([c.decode(c.encode(clips[i]), len(clips[i])) for i in a], model, progress=c.name)
        result["codecs"][c.name] = {"decoded_a_vs_raw_b": frechet_distance(decoded_a, raw_b),
                                    "decoded_a_vs_raw_a": frechet_distance(decoded_a, raw_a)}
        print(f"  FVD {c.name}: {result['codecs'][c.name]}", file=sys.stderr)
    result["seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", help="NAME=PREPARED_FOLDER")
    parser.add_argument("--fvd-set", default=None, help="the set FVD is measured on (default: none)")
    parser.add_argument("--fvd-clips", type=int, default=64, help="clips in the FVD sample, half per side")
    parser.add_argument("--rounds", type=int, default=5, help="timing: best of this many passes")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    report = {"command": "python " + " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M"),
              "load_average_start": os.getloadavg()[0],
              "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread, "
                         "shared with other engineers' jobs",
              "shard_format": f"jpeg q{JPEG_QUALITY} 4:4:4 (PIL decode)", "sets": {}}
    loaded = {}
    for spec in args.sets:
        name, folder = spec.split("=", 1)
        clips, sources = read_clips(Path(folder))
        loaded[name] = clips, sources
        shapes = sorted({v.shape for v in clips})
        print(f"{name}: {len(clips)} clips {shapes}", file=sys.stderr)
        report["sets"][name] = {"clips": len(clips), "shape": list(shapes[0]),
                                "formats": measure_set(clips, args.rounds)}
    if args.fvd_set:
        report["fvd"] = {"set": args.fvd_set, **measure_fvd(*loaded[args.fvd_set], args.fvd_clips)}
    report["load_average_end"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
