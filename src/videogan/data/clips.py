"""Clip geometry: square frames, cutting a frame stream into clips, and fitting a clip to a model."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .synthetic import to_model_range


def square(image: np.ndarray, size: int) -> np.ndarray:
    """h w 3 -> size size 3: short side resized to `size`, centre crop (the paper's framing)."""
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    # INTER_AREA averages when shrinking (no aliasing); it falls back to bilinear when enlarging
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[top:top + size, left:left + size]


@dataclass
class Clip:
    start: int  # index of the first frame in the (resampled) stream
    frames: np.ndarray  # t h w 3 uint8
    stats: list[dict] = field(default_factory=list)  # per frame
    padded: int = 0  # frames repeated at the end


def cut_clips(stream: Iterable[tuple[int, np.ndarray, dict]], length: int, stride: int, min_frames: int,
              pad: bool) -> Iterator[Clip]:
    """Clips of `length` frames every `stride` frames, never across a segment boundary.

    stream: (segment, frame h w 3, stats) per frame. A segment's tail that holds no full clip becomes a
    shorter clip if it has at least `min_frames` frames, padded with its last frame if `pad`. Memory: one
    clip's frames.
    """
    buffer: deque = deque(maxlen=length)  # (index, frame, stats)
    segment, next_start = None, 0

    def tail():
        rest = [entry for entry in buffer if entry[0] >= next_start]
        if rest and len(rest) >= min_frames:
            frames = np.stack([entry[1] for entry in rest])
            extra = length - len(rest) if pad else 0
            if extra:
                frames = np.concatenate([frames, np.repeat(frames[-1:], extra, 0)])
            return Clip(rest[0][0], frames, [entry[2] for entry in rest], extra)
        return None

    for index, (seg, frame, stats) in enumerate(stream):
        if seg != segment:
            if segment is not None and (clip := tail()):
                yield clip
            buffer.clear()
            segment, next_start = seg, index
        buffer.append((index, frame, stats))
        if index == next_start + length - 1:
            yield Clip(next_start, np.stack([entry[1] for entry in buffer]), [entry[2] for entry in buffer])
            next_start += stride
    if segment is not None and (clip := tail()):
        yield clip


def adapt_clip(video: np.ndarray, frames: int, size: int, rng: np.random.Generator | None) -> torch.Tensor:
    """t h w 3 uint8 of any length and size -> 3 frames size size in [-1, 1] for a model.

    Longer clips are cropped in time (random start from `rng`, centre if None); shorter ones are padded
    with their last frame, as the original loader did. Frames are resized to `size` (antialiased).
    """
    length = video.shape[0]
    if length > frames:
        start = int(rng.integers(length - frames + 1)) if rng is not None else (length - frames) // 2
        video = video[start:start + frames]
    elif length < frames:
        video = np.concatenate([video, np.repeat(video[-1:], frames - length, 0)])
    if video.shape[1] != video.shape[2]:
        video = np.stack([square(frame, min(frame.shape[:2])) for frame in video])
    out = to_model_range(np.ascontiguousarray(video))  # 3 t h w
    if out.shape[-1] != size:
        out = F.interpolate(out, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out = out.clamp_(-1.0, 1.0)
    return out


def clip_bytes(video: torch.Tensor) -> torch.Tensor:
    """3 t h w float in [-1, 1] -> uint8: a quarter of float32's bytes through the loader's queues and the
    copy to the device, where training restores [-1, 1] (to 1/255, the precision of video files)."""
    return video.add(1).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)
