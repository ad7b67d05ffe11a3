"""Data pipeline speed: frames/s per worker for decode, decode + stabilize and the whole `prepare`;
videos/s the training loader delivers per format, next to the videos/s the `cpu` and `paper` presets
consume; and the `cpu` preset's training speed reading each format (does the loader keep ahead?).

    PYTHONPATH=src:tests python benchmarks/data_speed.py [--videos 4] [--frames 150] [--workers 1]

Loader rates use each preset's default worker count (`workers` in its config: auto, from the CPU count)
and clip size.

Inputs are written to a temporary folder first: 640x360 H.264 camera-shake scenes at 25 fps (the sort of
footage `prepare` sees), and a VideoGAN-format list of 128x128 JPEG strips.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from videos import camera_shake_scene, write_video  # noqa: E402

from videogan.config import PRESETS  # noqa: E402
from videogan.data.decode import iter_frames  # noqa: E402
from videogan.data.formats import open_dataset  # noqa: E402
from videogan.data.prepare import Options, run  # noqa: E402
from videogan.data.stabilize import Stabilizer  # noqa: E402
from videogan.train.training_loop import loader_workers  # noqa: E402
from train_speed import measure  # noqa: E402  (this script's folder)

TRAINING_BATCH = {"cpu": 32, "paper": 8}  # paper on a CPU: a small batch (videos/s hardly depends on it)


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def make_inputs(root: Path, videos: int, frames: int) -> None:
    (root / "videos").mkdir(parents=True)
    for i in range(videos):
        video, _ = camera_shake_scene(frames, 360, seed=i)  # t 360 360 3
        wide = np.concatenate([video, video[:, :, ::-1][:, :, :280]], axis=2)  # t 360 640 3
        write_video(root / "videos" / f"v{i}.mp4", wide, fps=25)
    (root / "golf").mkdir()
    lines = []
    for i in range(16):
        strip = camera_shake_scene(32, 128, seed=100 + i)[0].reshape(-1, 128, 3)
        Image.fromarray(strip).save(root / "golf" / f"{i}.jpg", quality=90)
        lines.append(f"golf/{i}.jpg\n")
    (root / "golf.txt").write_text("".join(lines))


def loader_rate(path, data_format: str, preset: str, items: int = 64) -> float:
    model, workers = PRESETS[preset].model, loader_workers(PRESETS[preset].train.workers)
    data = open_dataset(path, data_format, frames=model.frames, size=model.size)
    loader = DataLoader(data, batch_size=8, shuffle=True, num_workers=workers)
    seconds, count = timed(lambda: sum(len(b["label"]) for b, _ in zip(loader, range(items // 8))))
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--workers", type=int, default=1, help="prepare workers")
    parser.add_argument("--device", default="auto", help="where the presets' consumption is measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_inputs(root, args.videos, args.frames)
        paths = sorted((root / "videos").glob("*.mp4"))
        total = args.videos * args.frames
        side = 128  # what prepare decodes to for --size 64
        t, _ = timed(lambda: [sum(1 for _ in iter_frames(p, short_side=side)) for p in paths])
        print(f"decode (640x360 H.264 -> short side {side}): {total / t:.0f} frames/s")
        t, _ = timed(lambda: [sum(1 for _ in Stabilizer().run(iter_frames(p, short_side=side))) for p in paths])
        print(f"decode + stabilize: {total / t:.0f} frames/s")
        for stabilize in (False, True):
            t, _ = timed(lambda: run(root / "videos", root / f"prep{stabilize}", Options(stabilize=stabilize),
                                     workers=args.workers, progress=lambda m: None))
            print(f"prepare ({'stabilized' if stabilize else '--no-stabilize'}, {args.workers} worker(s)): "
                  f"{total / t:.0f} frames/s, {total / t / args.workers:.0f} per worker")
        formats = [("prepared shards", root / "prepTrue", "shards"),
                   ("VideoGAN list (128 px JPEG)", root / "golf.txt", "videogan"),
                   ("video folder (on the fly)", root / "videos", "videos")]
        consumed = {}
        for preset in ("cpu", "paper"):
            tick = 10 if preset == "cpu" else 2
            consumed[preset] = measure(preset, TRAINING_BATCH[preset], 2, tick, args.device)["videos_per_s"]
            workers = loader_workers(PRESETS[preset].train.workers)
            print(f"{preset} preset (batch {TRAINING_BATCH[preset]}, {args.device}) consumes "
                  f"{consumed[preset]:.1f} videos/s; loader with its default {workers} worker(s):")
            for name, path, fmt in formats:
                rate = loader_rate(path, fmt, preset)
                verdict = "ahead" if rate > consumed[preset] else "BEHIND: give it more --workers"
                print(f"  {name}: {rate:.0f} videos/s ({rate / consumed[preset]:.1f}x, {verdict})")
        print("cpu preset training end to end, reading each format (synthetic: "
              f"{consumed['cpu']:.1f} videos/s):")
        for name, path, fmt in formats:
            rate = measure("cpu", TRAINING_BATCH["cpu"], 2, 10, args.device, data=path, data_format=fmt)
            print(f"  {name}: {rate['videos_per_s']:.1f} videos/s")


if __name__ == "__main__":
    main()
