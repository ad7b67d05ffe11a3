"""Reading video: files through PyAV and folders of numbered frames, one frame at a time.

Frames come out as h w 3 uint8 RGB (grayscale and other pixel formats are converted by the decoder), turned
upright as the file's display matrix says (phones store portrait video sideways and tag it -90 degrees).
Timing comes from presentation timestamps, never from frame counts, so variable-frame-rate files play at
the right speed: every decoded frame is placed on a constant-rate grid (native average rate, or the rate
asked for) and grid slots are filled by repeating or dropping frames. A pause between two timestamps longer
than `MAX_GAP` is a break in time, not a frame held on screen: the stream continues after it as a new part
(`iter_parts`), so no pause, however long, is filled with copies of one frame.
Only regular files and folders are read: a named pipe or device would block the reader forever.
"""
from __future__ import annotations

import math
import os
import re
import stat
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np
from PIL import Image

from .defects import Cuts, FreezeLimits, screen

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif", ".m4v", ".mpg", ".mpeg")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")  # frames of a frame folder, images to read
FRAME_FOLDER_FPS = 25.0  # a folder of frames carries no timing; the paper's native rate is assumed
MAX_PIXELS = 8192 * 8192  # larger frames are refused rather than risking the worker's memory
MAX_GAP = 1.0  # seconds between two frames beyond which the video is cut in time (at least 4 output frames)


class DecodeError(ValueError):
    """A source that cannot be read as video; the message is a one-line reason."""


@dataclass(frozen=True)
class VideoInfo:
    fps: float  # native (average) frame rate
    duration: float  # seconds, 0 if unknown
    width: int
    height: int


def natural_key(name: str) -> list:
    """Sort key that orders frame10 after frame9 (numbers compared as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def frame_files(folder: str | os.PathLike) -> list[Path]:
    files = [p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def is_frame_folder(path: str | os.PathLike) -> bool:
    """A directory holding at least two images and no sub-directories is one video."""
    path = Path(path)
    if not path.is_dir() or any(p.is_dir() for p in path.iterdir()):
        return False
    return len(frame_files(path)) >= 2


def _scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(w, h) with the short side reduced to `short_side` (never enlarged), both even for the scaler."""
    if short_side is None or min(width, height) <= short_side:
        return width, height
    scale = short_side / min(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _describe(err: Exception) -> str:
    """FFmpeg's reason without the path (the summary names the file already)."""
    return f"{type(err).__name__}: {getattr(err, 'strerror', None) or err}"


def check_regular(path: Path) -> None:
    """Raise DecodeError unless `path` is a regular file (a FIFO named .mp4 would block `open` forever)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise DecodeError(f"cannot read ({err.strerror or err})") from None
    if not stat.S_ISREG(mode):
        kinds = {stat.S_ISFIFO: "a named pipe", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
                 stat.S_ISSOCK: "a socket", stat.S_ISDIR: "a folder"}
        kind = next((name for test, name in kinds.items() if test(mode)), "special")
        raise DecodeError(f"not a regular file ({kind})")
    if os.stat(path).st_size == 0:
        raise DecodeError("empty file (0 bytes)")


@contextmanager
def _opened(path: Path) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """(container, its first video stream), closed on leaving. A name that is not valid UTF-8 (FFmpeg takes
    names as UTF-8 only) is read through a Python file object."""
    check_regular(path)
    with ExitStack() as stack:
        try:
            str(path).encode("utf-8")
            source = str(path)
        except UnicodeEncodeError:
            source = stack.enter_context(open(path, "rb"))
        try:
            container = stack.enter_context(av.open(source))
        except (av.FFmpegError, UnicodeDecodeError) as err:
            raise DecodeError(f"not a readable video ({_describe(err)})") from None
        if not container.streams.video:
            raise DecodeError("no video stream (audio-only or data file)")
        stream = container.streams.video[0]
        # slices only: frame threading drops a packet that fails to decode without a word (a damaged
        # stretch would pass unseen), and `prepare --workers` runs one process per core anyway
        stream.thread_type = "SLICE"
        yield container, stream


def probe(path: str | os.PathLike) -> VideoInfo:
    path = Path(path)
    if path.is_dir():
        files = frame_files(path)
        if not files:
            raise DecodeError("folder holds no image frames")
        with Image.open(files[0]) as image:
            width, height = image.size
        return VideoInfo(FRAME_FOLDER_FPS, len(files) / FRAME_FOLDER_FPS, width, height)
    with _opened(path) as (container, stream):
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate and stream.guessed_rate and stream.guessed_rate > 4 * rate:
            rate = stream.guessed_rate  # a long pause drags the average (frames / duration) far below the real rate
        fps = float(rate) if rate else FRAME_FOLDER_FPS
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        return VideoInfo(fps, duration, stream.codec_context.width, stream.codec_context.height)


def _decoded(container, stream) -> Iterator[tuple[av.VideoFrame | None, bool]]:
    """(frame, damaged) of `stream`, decoding packet by packet so that damage costs only the frames it
    reaches (defects.py says which frames count as damaged); (None, True) for a packet that gave no frame.
    A container too broken to read on ends the stream there."""
    damaged = False
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError:
            yield None, True
            return
        try:
            frames = packet.decode()
        except av.FFmpegError:
            damaged = True
            yield None, True  # a packet without its frame: the damage starts here
            continue
        for frame in frames:
            if frame.key_frame and not frame.is_corrupt:
                damaged = False  # a key frame predicts from nothing before it
            damaged = damaged or frame.is_corrupt
            yield frame, damaged


def timed_frames_file(path: Path, short_side: int | None, start: float
                       ) -> Iterator[tuple[float | None, np.ndarray | None, bool]]:
    with _opened(path) as (container, stream):
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > MAX_PIXELS:
            raise DecodeError(f"resolution {width}x{height} too large (limit {MAX_PIXELS} pixels)")
        if start > 0 and stream.time_base is not None:
            # lands on the key frame before `start`; earlier frames are dropped below
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        end = _stated_end(container, stream)
        time = None
        for frame, damaged in _decoded(container, stream):
            if frame is None:
                yield None, None, True
                continue
            time = frame.time
            if time is not None and time < start:
                continue
            w, h = _scaled_size(frame.width, frame.height, short_side)
            image = frame.to_ndarray(width=w, height=h, format="rgb24")  # h w 3
            turns = round((frame.rotation or 0) / 90) % 4  # display rotation, counter-clockwise
            yield time, np.ascontiguousarray(np.rot90(image, turns)) if turns else image, damaged
        if time is not None and end is not None and end - time > MAX_GAP:
            # a demuxer that meets a damaged stretch may stop as if the file ended there
            yield end, None, True


def _stated_end(container, stream) -> float | None:
    """Seconds at which the file says its video ends (None if it does not say)."""
    if stream.duration is not None and stream.time_base is not None:
        return float((stream.start_time or 0) * stream.time_base + stream.duration * stream.time_base)
    if container.duration is not None and len(container.streams) == 1:  # with audio, it may outlast the video
        return (container.start_time or 0) / av.time_base + container.duration / av.time_base
    return None


def _timed_frames_folder(path: Path, short_side: int | None, start: float) -> Iterator[tuple[float, np.ndarray, bool]]:
    files = frame_files(path)
    for index in range(math.ceil(start * FRAME_FOLDER_FPS), len(files)):
        try:
            with Image.open(files[index]) as image:
                image = image.convert("RGB")
                size = _scaled_size(*image.size, short_side)
                if size != image.size:
                    image = image.resize(size, Image.BILINEAR)
                yield index / FRAME_FOLDER_FPS, np.asarray(image), False
        except OSError as err:
            raise DecodeError(f"unreadable frame {files[index].name}: {err}") from None


def iter_parts(path: str | os.PathLike, fps: float | None = None, short_side: int | None = None,
               start: float = 0.0, freeze: FreezeLimits = FreezeLimits(),
               cuts: Cuts | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(part, frame h w 3 uint8) of a video file or frame folder at a constant rate, streamed; `part`
    increases by one after every pause longer than `MAX_GAP` between timestamps and wherever damaged or
    frozen frames were cut out (defects.py).

    fps: output rate (None: the native average rate). short_side: decode scaled down so the short side
    is at most this (saves memory and time on large sources). start: seconds to skip (seeks in files).
    freeze: what counts as a frozen run. cuts: receives what was cut and why each part began.
    """
    cuts = Cuts() if cuts is None else cuts
    cuts.reasons.append("")
    path = Path(path)
    rate = float(fps) if fps else probe(path).fps
    max_gap = max(MAX_GAP, 4 / rate)
    timed = _timed_frames_folder if path.is_dir() else timed_frames_file
    part, origin, pending, next_slot, last_time, step = 0, None, None, 0, None, 1.0 / rate

    def last_slots():  # the pending frame lasts as long as the interval before it
        nonlocal next_slot
        while pending is not None and (next_slot == 0 or next_slot / rate < last_time + step - origin - 1e-3):
            yield part, pending
            next_slot += 1

    for count, (time, frame, cut) in enumerate(screen(timed(path, short_side, start), freeze, cuts)):
        if time is None:  # no timestamps at all: trust the frame order
            time = (origin or 0.0) + count / rate
        if last_time is not None and time - last_time > max_gap:
            cut = cut or f"pause of more than {MAX_GAP:g}s between timestamps"
        if cut and pending is not None:
            yield from last_slots()
            part, origin, pending, next_slot, last_time = part + 1, None, None, 0, None
            cuts.reasons.append(cut)
        if origin is None:
            origin = time
        # slot k shows the frame on screen at time k / rate: the pending frame fills every slot up to the
        # one this frame starts at (a VFR gap repeats it; a frame that starts no slot is dropped)
        first_slot = math.ceil((time - origin) * rate - 1e-3)
        while pending is not None and next_slot < first_slot:
            yield part, pending
            next_slot += 1
        if last_time is not None and 0 < time - last_time <= max_gap:
            step = time - last_time
        pending, last_time = frame, time
    yield from last_slots()


def iter_frames(path: str | os.PathLike, fps: float | None = None, short_side: int | None = None,
                start: float = 0.0) -> Iterator[np.ndarray]:
    """Frames (h w 3 uint8) of `iter_parts`, without the parts: a pause is skipped over."""
    return (frame for _, frame in iter_parts(path, fps, short_side, start))


def count_frames(path: str | os.PathLike, fps: float | None = None) -> int:
    """Frames `iter_frames` would yield: from metadata (duration x rate); exact for frame folders."""
    path = Path(path)
    if path.is_dir():
        return math.ceil(len(frame_files(path)) * (fps or FRAME_FOLDER_FPS) / FRAME_FOLDER_FPS)
    info = probe(path)
    return int(info.duration * (fps or info.fps))
