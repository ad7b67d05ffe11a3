"""The built-in dataset: objects moving over a static, textured scene seen by a stationary camera.

It is the paper's assumption made literal (section 2.2: "the world is stationary and usually only
objects move"), so the two-stream model has something to untangle and everything runs without a
download. Video `i` depends only on (seed, i): any worker, rank or resumed run draws the same clip.

Every video carries a motion-class label (all its objects share one kind of motion, with their own
speeds and phases), which shapes its objects have, and its true foreground mask.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

MOTIONS = ("linear", "bounce", "accelerate", "oscillate", "circle")
SHAPES = ("disc", "square", "diamond", "ring", "cross")


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int) -> np.ndarray:
    """Random values on a coarse grid, bilinearly upsampled: h w c, smooth texture in [0, 1]."""
    grid = rng.random((cells + 1, cells + 1, channels))
    coords = np.linspace(0, cells, size, endpoint=False) + cells / size / 2
    i0 = np.floor(coords).astype(int).clip(0, cells - 1)
    frac = coords - i0
    rows = grid[i0] * (1 - frac)[:, None, None] + grid[i0 + 1] * frac[:, None, None]  # h cells+1 c
    return rows[:, i0] * (1 - frac)[None, :, None] + rows[:, i0 + 1] * frac[None, :, None]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A scene: two-colour palette mixed by coarse noise, fine grain, and a horizon-like gradient."""
    palette = rng.random((2, 3))
    mix = _smooth_noise(rng, size, int(rng.integers(2, 5)), 1)
    grain = _smooth_noise(rng, size, max(4, size // 4), 3) - 0.5
    gradient = np.linspace(-0.15, 0.15, size)[:, None, None] * rng.choice([-1, 1])
    image = palette[0] * (1 - mix) + palette[1] * mix + 0.25 * grain + gradient
    return image.clip(0, 1)  # h w 3


def _trajectory(rng: np.random.Generator, motion: str, frames: int, radius: float) -> np.ndarray:
    """Object centre per frame, t 2 (y, x), in units of the frame size (0..1)."""
    t = np.arange(frames, dtype=np.float64)
    lo, hi = radius, 1 - radius
    if motion == "linear":
        start, end = rng.uniform(lo, hi, 2), rng.uniform(lo, hi, 2)
        while np.linalg.norm(end - start) < min(0.3, 0.7 * (hi - lo)):  # large objects have less room
            end = rng.uniform(lo, hi, 2)
        return start + np.outer(t / max(frames - 1, 1), end - start)
    if motion == "bounce":
        speed = rng.uniform(1.2, 2.5) / frames  # crosses the frame 1-2.5 times: at least one wall hit likely
        angle = rng.uniform(0, 2 * np.pi)
        raw = rng.uniform(lo, hi, 2) + np.outer(t, speed * np.array([np.sin(angle), np.cos(angle)]))
        span = hi - lo
        folded = np.mod(raw - lo, 2 * span)  # reflect off the walls
        return lo + np.where(folded > span, 2 * span - folded, folded)
    if motion == "accelerate":
        start, end = rng.uniform(lo, hi, 2), rng.uniform(lo, hi, 2)
        while np.linalg.norm(end - start) < min(0.35, 0.7 * (hi - lo)):
            end = rng.uniform(lo, hi, 2)
        s = (t / max(frames - 1, 1)) ** 2  # from rest, constant acceleration
        return start + np.outer(s, end - start)
    if motion == "oscillate":
        centre = rng.uniform(0.35, 0.65, 2)
        amplitude = rng.uniform(0.15, 0.5 - radius) if 0.5 - radius > 0.15 else 0.15
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(0.4, 0.9) * frames
        phase = rng.uniform(0, 2 * np.pi)
        offset = amplitude * np.sin(2 * np.pi * t / period + phase)
        return (centre + np.outer(offset, [np.sin(angle), np.cos(angle)])).clip(lo, hi)
    if motion == "circle":
        centre = rng.uniform(0.4, 0.6, 2)
        orbit = rng.uniform(0.12, 0.3)
        turns = rng.uniform(0.5, 1.0) * rng.choice([-1, 1])
        phase = rng.uniform(0, 2 * np.pi)
        angle = phase + 2 * np.pi * turns * t / frames
        return (centre + orbit * np.stack([np.sin(angle), np.cos(angle)], 1)).clip(lo, hi)
    raise ValueError(f"unknown motion {motion!r}")


def _coverage(shape: str, dy: np.ndarray, dx: np.ndarray, radius: float, pixel: float) -> np.ndarray:
    """Anti-aliased coverage (0..1) of a shape centred at the origin; dy, dx in frame units."""
    if shape == "disc":
        dist = np.hypot(dy, dx) - radius
    elif shape == "square":
        dist = np.maximum(np.abs(dy), np.abs(dx)) - radius * 0.85
    elif shape == "diamond":
        dist = (np.abs(dy) + np.abs(dx)) / 1.2 - radius
    elif shape == "ring":
        dist = np.abs(np.hypot(dy, dx) - radius * 0.7) - radius * 0.3
    elif shape == "cross":
        arm = radius * 0.35
        dist = np.minimum(np.maximum(np.abs(dy) - radius, np.abs(dx) - arm),
                          np.maximum(np.abs(dx) - radius, np.abs(dy) - arm))
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return np.clip(0.5 - dist / np.float32(pixel), 0.0, 1.0).astype(np.float32, copy=False)


def render_video(seed: int, index: int, frames: int, size: int, max_objects: int = 3,
                 object_scale: float = 1.0) -> dict:
    """One video of the built-in dataset.

    `object_scale` multiplies every object's radius (1: 7-16% of the frame's side).
    Returns video (t h w 3 uint8), mask (t h w float32, true foreground coverage), label (int, the
    motion class) and shapes (bool per entry of SHAPES: does some object of the video have that shape).
    """
    rng = np.random.default_rng([seed, index])
    label = int(rng.integers(len(MOTIONS)))
    background = _background(rng, size)
    # channel-first while compositing: numpy's inner loops then run over whole rows, not over 3 channels
    video = np.broadcast_to(background.astype(np.float32).transpose(2, 0, 1)[:, None], (3, frames, size, size)).copy()
    mask = np.zeros((frames, size, size), np.float32)
    axis = ((np.arange(size) + 0.5) / size).astype(np.float32)
    pixel = 1.0 / size
    shapes = np.zeros(len(SHAPES), bool)
    for _ in range(int(rng.integers(1, max_objects + 1))):
        radius = np.float32(rng.uniform(0.07, 0.16) * object_scale)
        centres = _trajectory(rng, MOTIONS[label], frames, radius)  # t 2
        centres = centres.astype(np.float32)
        dy = axis[None, :, None] - centres[:, 0, None, None]  # t h 1
        dx = axis[None, None, :] - centres[:, 1, None, None]  # t 1 w
        shape = int(rng.integers(len(SHAPES)))
        shapes[shape] = True
        alpha = _coverage(SHAPES[shape], dy, dx, radius, pixel)  # t h w
        colour = rng.random(3).astype(np.float32)[:, None, None, None]
        # a stripe pattern in object coordinates: the texture moves with the object
        stripes = 0.12 * np.sin((2 * np.pi / (radius * rng.uniform(0.6, 1.2))) * (dy + dx))  # t h w
        video += alpha * (colour + stripes - video)
        np.maximum(mask, alpha, out=mask)
    video = np.clip(video * 255 + 0.5, 0, 255, out=video).astype(np.uint8).transpose(1, 2, 3, 0)
    return {"video": video, "mask": mask, "label": label, "shapes": shapes}


def to_model_range(video_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """t h w 3 uint8 -> 3 t h w float in [-1, 1], the layout and range every network takes."""
    video = torch.as_tensor(video_uint8)
    return video.permute(3, 0, 1, 2).float().div(127.5).sub(1.0)


class MovingObjects(Dataset):
    """Map-style dataset of `length` procedural videos (3 t h w in [-1, 1]), deterministic per index."""

    num_classes = len(MOTIONS)
    class_names = MOTIONS

    def __init__(self, frames: int, size: int, seed: int = 1234, length: int = 1_000_000, max_objects: int = 3,
                 with_mask: bool = False, object_scale: float = 1.0):
        self.frames, self.size, self.seed, self.length = frames, size, seed, length
        self.max_objects, self.with_mask, self.object_scale = max_objects, with_mask, object_scale

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        item = render_video(self.seed, index, self.frames, self.size, self.max_objects, self.object_scale)
        out = {"video": to_model_range(item["video"]), "label": item["label"]}
        if self.with_mask:
            out["mask"] = torch.from_numpy(item["mask"])
        return out
