"""Writing videos: MP4 (H.264 through PyAV's bundled FFmpeg) and GIF, and tiling batches into grids."""
from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from ..files import write_atomic


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """Model range [-1, 1] to bytes: ... 3 t h w float -> ... t h w 3 uint8."""
    video = video.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return video.movedim(-4, -1).numpy()


def grid(videos: np.ndarray, columns: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile n t h w c videos into one t H W c video, `columns` wide (default: square), white borders."""
    n, t, h, w, c = videos.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    out = np.full((t, rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        y, x = pad + (i // columns) * (h + pad), pad + (i % columns) * (w + pad)
        out[:, y:y + h, x:x + w] = videos[i]
    return out


def write_gif(path: str | Path, frames: np.ndarray, fps: float = 8.0, scale: int = 1) -> None:
    """t h w 3 uint8 -> looping GIF (written atomically). Identical consecutive frames are stored once
    with their durations added (Pillow's encoder): playback timing is exact, the frame count may not be."""
    path = Path(path)
    frames = _upscale(frames, scale)
    images = [Image.fromarray(f) for f in frames]
    write_atomic(path, lambda f: images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                                                 duration=round(1000 / fps), loop=0))


def write_mp4(path: str | Path, frames: np.ndarray, fps: float = 8.0, scale: int = 1) -> None:
    """t h w 3 uint8 -> H.264 MP4 (yuv420p, so sizes are padded to even numbers; written atomically)."""
    path = Path(path)
    frames = _upscale(frames, scale)
    t, h, w, _ = frames.shape
    frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")

    def encode(file) -> None:
        with av.open(file, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=round(fps))
            stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            stream.options = {"crf": "18"}  # tiny videos: keep them sharp
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())

    write_atomic(path, encode)


def write_png(path: str | Path, image: np.ndarray, scale: int = 1) -> None:
    """h w 3 uint8 -> PNG (written atomically)."""
    path = Path(path)
    write_atomic(path, lambda f: Image.fromarray(_upscale(image[None], scale)[0]).save(f, format="PNG"))


# frame rates both formats hold: a GIF counts whole milliseconds per frame, an MP4 stream whole frames per second
FPS_RANGE = (1.0, 1000.0)


def check_fps(fps: float) -> None:
    """Refuse, naming --fps, a frame rate the video files cannot hold (before any work is done for them)."""
    low, high = FPS_RANGE
    if not low <= fps <= high:
        raise ValueError(f"--fps {fps}: frames per second must be between {low:g} and {high:g}")


def write_video(path: str | Path, frames: np.ndarray, fps: float = 8.0, scale: int = 1) -> None:
    """Write by extension: .gif or .mp4."""
    check_fps(fps)
    suffix = Path(path).suffix.lower()
    writers = {".gif": write_gif, ".mp4": write_mp4}
    if suffix not in writers:
        raise ValueError(f"{path}: cannot write videos with extension {suffix!r} (use .gif or .mp4)")
    writers[suffix](path, frames, fps, scale)


def _upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement: tiny videos are unreadable at their native size."""
    if scale == 1:
        return frames
    return frames.repeat(scale, axis=1).repeat(scale, axis=2)
