"""Writes small real video files for the tests with PyAV (the library's own writer is not under test)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

CODECS = {".mp4": ("libx264", "yuv420p"), ".avi": ("mpeg4", "yuv420p"), ".mkv": ("libx264", "yuv420p"),
          ".gif": ("gif", "rgb8")}


def moving_pattern(frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """t h w 3 uint8: a smooth random texture sliding right one pixel per frame (easy to compress)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 8 + 2, (width + frames) // 8 + 2, 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(base).resize(((width + frames) , height), Image.BILINEAR))
    return np.stack([big[:, t:t + width] for t in range(frames)])


def write_video(path, frames: np.ndarray, fps: float = 25, times: list[float] | None = None,
                gray: bool = False, crf: int | None = None) -> Path:
    """Encode t h w 3 uint8 frames; `times` (seconds) gives variable-frame-rate timestamps; `crf` sets
    libx264's quality (lower keeps more: a good camera's sensor noise survives at 15, not at the default 23)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec, pix_fmt = CODECS[path.suffix]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "gray" if gray else pix_fmt
        if crf is not None:
            stream.options = {"crf": str(crf)}
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for index, image in enumerate(frames):
            if gray:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[..., 0]), format="gray")
            else:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = round(times[index] * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def write_frame_folder(folder, frames: np.ndarray, ext: str = ".png") -> Path:
    """frame_1.png ... frame_N.png: numbered without zero padding, so name order differs from frame order."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    for index, image in enumerate(frames, 1):
        Image.fromarray(image).save(folder / f"frame_{index}{ext}")
    return folder


def write_strip(path, video: np.ndarray) -> Path:
    """The original release's clip file: frames stacked vertically in one image. Stored losslessly (PNG
    data under the .jpg name the lists use; the reader goes by content) so tests can compare pixels."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(video.reshape(-1, *video.shape[2:])).save(path, format="PNG")
    return path


def write_audio_only(path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=8000)
        samples = np.zeros((1, 1024), np.float32)
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 8000
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return Path(path)


def damage_middle(path: Path, fraction: float = 1 / 8) -> None:
    """Overwrite a stretch in the middle of the file with noise: header intact, payload damaged."""
    data = bytearray(path.read_bytes())
    start, length = len(data) // 2, int(len(data) * fraction)
    data[start:start + length] = np.random.default_rng(0).integers(0, 256, length, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def flip_middle(path: Path, fraction: float = 1 / 40) -> None:
    """Invert every bit of a short stretch in the middle of the file: a few packets damaged, the rest intact."""
    data = bytearray(path.read_bytes())
    start = len(data) // 2
    for index in range(start, start + max(1, int(len(data) * fraction))):
        data[index] ^= 0xFF
    path.write_bytes(bytes(data))


def camera_shake_scene(frames: int, size: int, seed: int = 0, world: int = 512, pan: float = 0.0):
    """A textured static world seen through random homographies, with a disc moving across it; `pan`
    pixels per frame of steady sideways camera motion on top of the shake.

    Returns (video t h w 3 uint8, views t 3 3: frame pixels -> world pixels).
    """
    import cv2

    rng = np.random.default_rng(seed)
    texture = np.zeros((world, world, 3), np.float32)
    for cells in (8, 32, 128):  # several scales of detail, so SIFT finds corners at any working size
        noise = rng.random((cells, cells, 3)).astype(np.float32)
        texture += cv2.resize(noise, (world, world), interpolation=cv2.INTER_CUBIC)
    texture = (255 * (texture - texture.min()) / np.ptp(texture)).astype(np.uint8)
    centre = np.array([world / 2 - size / 2, world / 2 - size / 2])
    views, video = [], []
    angle, zoom, shift = 0.0, 1.0, np.zeros(2)
    for t in range(frames):
        angle += rng.normal(0, 0.01)
        zoom *= np.exp(rng.normal(0, 0.01))
        shift += rng.normal(0, 2.0, 2) + (pan, 0.0)
        c, s = zoom * np.cos(angle), zoom * np.sin(angle)
        half = size / 2
        # rotate and zoom about the frame centre, then place in the world; a little perspective as well
        view = np.array([[c, -s, centre[0] + shift[0] + half - c * half + s * half],
                         [s, c, centre[1] + shift[1] + half - s * half - c * half],
                         [rng.normal(0, 2e-5), rng.normal(0, 2e-5), 1.0]])
        image = cv2.warpPerspective(texture, view, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        cy, cx = size * 0.3 + t * size * 0.4 / frames, size * 0.5
        yy, xx = np.mgrid[:size, :size]
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < (size / 10) ** 2] = (255, 40, 40)
        views.append(view)
        video.append(image)
    return np.stack(video), np.stack(views)


def background_residual(views: np.ndarray, transforms: list[np.ndarray], size: int) -> float:
    """Mean distance (px) between where stabilized frame t and frame 0 show the same world point."""
    grid = np.stack(np.meshgrid(np.arange(4, size - 4, 4.0), np.arange(4, size - 4, 4.0)), -1).reshape(-1, 2)
    points = np.concatenate([grid, np.ones((len(grid), 1))], 1).T  # 3 n, stabilized pixels
    errors = []
    for view, transform in zip(views[1:], transforms[1:]):
        # stabilized pixel x shows world point view @ inv(transform) @ x; frame 0 shows views[0] @ x there
        mapped = np.linalg.inv(views[0]) @ view @ np.linalg.inv(transform) @ points
        errors.append(np.linalg.norm(mapped[:2] / mapped[2] - points[:2], axis=0).mean())
    return float(np.mean(errors))


def wobble(image: np.ndarray, amplitude: float, seed: int = 0, wavelength: float = 9.0) -> np.ndarray:
    """`image` bent by a wave of `amplitude` pixels: a distortion no homography fits (a rolling shutter's, say)."""
    import cv2

    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[:image.shape[0], :image.shape[1]].astype(np.float32)
    return cv2.remap(image, xx + amplitude * np.sin(yy / wavelength + phase),
                     yy + amplitude * np.cos(xx / wavelength + phase),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def read_video(path) -> np.ndarray:
    """Decoded RGB frames of a video file: t h w 3 uint8."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def video_distance(a, b) -> float:
    """Mean absolute difference, in 8-bit levels, between two video files of the same shape.

    Two encodes of the same generated frames are compared this way, never byte for byte: CPU convolution
    kernels may round differently from one call to the next (oneDNN picks kernels by memory alignment),
    and the encoder turns a one-level change in a pixel into different bytes."""
    x, y = read_video(a), read_video(b)
    assert x.shape == y.shape, (a, x.shape, b, y.shape)
    return float(np.abs(x.astype(np.int16) - y.astype(np.int16)).mean())
