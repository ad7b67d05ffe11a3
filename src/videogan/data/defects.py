"""Frames the decoder got wrong, cut out of a stream before it is resampled: damaged frames and frozen runs.

Two signs, both cheap next to decoding (docs/data.md has the measurements):
- Damaged: a packet the decoder could not decode, or a frame it flags as corrupt (FFmpeg hides lost blocks
  by copying them from earlier pictures). Every later frame up to the next key frame predicts from the
  damaged picture and carries the damage on, so those are damaged too.
- Frozen: a stalled stream, where a decoder or capture device repeated one frame. A run of `freeze_frames`
  or more decoded frames, each within `freeze_level` of the one before (mean absolute difference over the
  pixels, in 8-bit levels), is cut whole. Real footage stays well above that level even from a tripod:
  sensor noise and the encoder's own changes move pixels by a level or more, and a person who stands still
  for a moment gives a few such frames, not a run. An encoder that removed every trace of noise from a
  still shot makes it look frozen too: `freeze_frames` 0 turns the check off.
Only native decoded frames are compared: the repeats that resampling to a higher rate adds are not runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import cv2
import numpy as np

FREEZE_FRAMES = 12  # half a second at 25 fps; clean real footage has runs of at most 4 (docs/data.md)
FREEZE_LEVEL = 0.1  # 8-bit levels; a stalled decoder repeats a frame exactly, a re-encoded freeze stays below 0.03
MAX_FREEZE_FRAMES = 250  # a run is held in memory until it is long enough to be a freeze: 10 s at 25 fps


@dataclass(frozen=True)
class FreezeLimits:
    frames: int = FREEZE_FRAMES  # 0: no freeze check
    level: float = FREEZE_LEVEL

    def __post_init__(self):
        if self.frames != 0 and not 2 <= self.frames <= MAX_FREEZE_FRAMES:
            raise ValueError(f"--freeze-frames must be 0 (off) or in [2, {MAX_FREEZE_FRAMES}], got {self.frames}")
        if not (math.isfinite(self.level) and 0 <= self.level <= 255):
            raise ValueError(f"--freeze-level must be in [0, 255] (8-bit levels), got {self.level:g}")


@dataclass
class Cuts:
    """What was cut out of one input, and why each part of what is left began (`reasons[part]`)."""
    damaged_frames: int = 0
    damaged_stretches: int = 0
    undecodable_packets: int = 0  # packets that gave no frame at all: their frames are not counted above
    lost_seconds: float = 0.0  # the stream stopped this long before the end the file states
    frozen_frames: int = 0
    frozen_runs: int = 0
    reasons: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        return {"damaged_frames": self.damaged_frames, "damaged_stretches": self.damaged_stretches,
                "undecodable_packets": self.undecodable_packets, "frozen_frames": self.frozen_frames,
                "frozen_runs": self.frozen_runs, "lost_seconds": round(self.lost_seconds, 3)}

    def describe(self) -> str:
        """'12 frozen frames (1 run), 30 damaged frames (2 stretches)', or '' when nothing was cut."""
        said = []
        if self.frozen_frames:
            said.append(f"{self.frozen_frames} frozen frames ({self.frozen_runs} run(s))")
        if self.damaged_frames:
            said.append(f"{self.damaged_frames} damaged frames ({self.damaged_stretches} stretch(es))")
        if self.undecodable_packets:
            said.append(f"{self.undecodable_packets} undecodable packet(s)")
        if self.lost_seconds:
            said.append(f"{self.lost_seconds:.1f}s lost where the stream stopped before its stated end")
        return ", ".join(said)


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two h w 3 uint8 frames, in levels (inf if their sizes differ)."""
    if a.shape != b.shape:
        return math.inf
    return float(cv2.absdiff(a, b).mean())


def screen(frames: Iterable[tuple[float | None, np.ndarray | None, bool]], limits: FreezeLimits,
           cuts: Cuts) -> Iterator[tuple[float | None, np.ndarray, str]]:
    """(time, frame h w 3, damaged) of decoded frames -> (time, frame, cut)
    of the frames kept, `cut`
    naming what was removed just before this frame ("" if nothing). Counts go to `cuts`. Memory: at most
    `limits.frames` frames (a run that may yet become a freeze). A frame of None is damage that gave no
    frame: with no time, a packet that failed to decode; with a time, the stream stopped short of it."""
    run: list[tuple[float | None, np.ndarray]] = []  # near-identical frames not yet given out
    run_length, previous, cut, in_damage, last_time = 0, None, "", False, None

    def end_run():
        nonlocal cut, run, run_length
        if limits.frames and run_length >= limits.frames:
            cuts.frozen_frames += run_length
            cuts.frozen_runs += 1
            cut = f"{run_length} frozen frames"
        for index, (time, frame) in enumerate(run):
            yield time, frame, cut if index == 0 else ""
        if run:
            cut = ""
        run, run_length = [], 0

    for time, frame, damaged in frames:
        if damaged:
            yield from end_run()
            if not in_damage:
                cuts.damaged_stretches += 1
            if frame is None and time is not None:  # nothing decoded from the last frame up to `time`
                cuts.lost_seconds += max(0.0, time - (last_time or 0.0))
            elif frame is None:
                cuts.undecodable_packets += 1
            else:
                cuts.damaged_frames += 1
                last_time = time
            in_damage, previous, cut = True, None, "frames the decoder flagged as damaged"
            continue
        in_damage, last_time = False, time
        if previous is None or difference(frame, previous) > limits.level:
            yield from end_run()
        previous = frame
        run_length += 1
        if limits.frames and run_length >= limits.frames:
            run = []  # a freeze: its frames are dropped as they come
        else:
            run.append((time, frame))
    yield from end_run()
