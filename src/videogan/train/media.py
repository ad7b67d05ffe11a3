"""A generator's output on disk: each stream as a video, tiled into grids (the paper's Figure 3). Used for training progress samples and by `videogan sample` / `predict`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.video_io import grid, to_uint8, write_png, write_video


def stream_videos(parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each moving part as a b 3 t h w video in [-1, 1] for display; the mask is shown white = foreground.
    (The background is one still image per video: `write_grids` saves it as a PNG.)"""
    out = {"videos": parts["video"]}
    if "mask" in parts:
        out["foreground"] = parts["foreground"]
        out["mask"] = (parts["mask"] * 2 - 1).expand(-1, 3, -1, -1, -1)
        # f * m over black: what the foreground stream contributes (Figure 3's "foreground" panel)
        out["foreground_masked"] = (parts["foreground"] + 1) * parts["mask"] - 1
    return out


def even_frames(videos: torch.Tensor, count: int) -> torch.Tensor:
    """`count` evenly spaced frames, first and last included, of videos n c t h w: n c count h w."""
    return videos[:, :, torch.linspace(0, videos.shape[2] - 1, count).round().long()]


def still_rows(columns: list[torch.Tensor]) -> np.ndarray:
    """Stills in rows, one row per video: `columns` are n 3 k h w blocks in [-1, 1] (k frames each),
    laid side by side. Returns H W 3 uint8."""
    panel = to_uint8(torch.cat(columns, dim=2))  # n k h w 3: k stills per video
    n, k = panel.shape[:2]
    return grid(panel.reshape(n * k, 1, *panel.shape[2:]), columns=k)[0]


def contact_sheet(parts: dict[str, torch.Tensor], frames: int = 4, rows: int = 8) -> np.ndarray:
    """The paper's Figure 3 as one still: a row per video (the first `rows`), `frames` evenly spaced
    frames of the video, then (two-stream) the background, and the mask and masked foreground at the
    same frames. Returns H W 3 uint8, for a page or a report, where a GIF cannot be printed."""
    videos = stream_videos({k: v[:rows] for k, v in parts.items()})
    columns = [even_frames(videos["videos"], frames)]
    if "background" in parts:
        columns += [parts["background"][:rows].unsqueeze(2), even_frames(videos["mask"], frames),
                    even_frames(videos["foreground_masked"], frames)]
    return still_rows(columns)


def write_grids(parts: dict[str, torch.Tensor], out_dir: Path, prefix: str = "", fps: float = 8.0,
                formats: tuple[str, ...] = ("gif", "mp4"), scale: int = 2) -> list[Path]:
    written = []
    for name, video in stream_videos(parts).items():
        tiled = grid(to_uint8(video))
        for ext in formats:
            path = out_dir / f"{prefix}{name}.{ext}"
            write_video(path, tiled, fps=fps, scale=scale)
            written.append(path)
    if "background" in parts:
        path = out_dir / f"{prefix}background.png"
        write_png(path, grid(to_uint8(parts["background"].unsqueeze(2)))[0], scale=scale)
        written.append(path)
    path = out_dir / f"{prefix}sheet.png"
    write_png(path, contact_sheet(parts), scale=scale)
    written.append(path)
    return written
