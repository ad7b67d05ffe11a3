"""Data pipeline speed: frames/s per worker for decode, decode + stabilize and the whole `prepare`, and
videos/s the training loader delivers per format.

    PYTHONPATH=src:tests python benchmarks/data_speed.py [--videos 4] [--frames 150] [--workers 1]

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


def loader_rate(path, data_format: str, workers: int, items: int = 64) -> float:
    model = PRESETS["paper"].model
    data = open_dataset(path, data_format, frames=model.frames, size=model.size)
    loader = DataLoader(data, batch_size=8, shuffle=True, num_workers=workers)
    seconds, count = timed(lambda: sum(len(b["label"]) for b, _ in zip(loader, range(items // 8))))
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--workers", type=int, default=1, help="loader and prepare workers")
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
        for name, path, fmt in [("prepared shards", root / "prepTrue", "shards"),
                                ("VideoGAN list (128 px JPEG)", root / "golf.txt", "videogan"),
                                ("video folder (on the fly)", root / "videos", "videos")]:
            print(f"loader, {name}, {args.workers} worker(s): {loader_rate(path, fmt, args.workers):.0f} videos/s")


if __name__ == "__main__":
    main()
