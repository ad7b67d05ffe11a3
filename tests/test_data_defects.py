"""Frozen and damaged footage: cut out of the stream (defects.py), counted per input, never a clip."""
import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from videogan.cli import main
from videogan.data.decode import iter_parts
from videogan.data.defects import FREEZE_FRAMES, Cuts, FreezeLimits, screen
from videogan.data.shards import load_clip, read_manifests
from videos import damage_middle, flip_middle, moving_pattern, read_video, write_video

ARGS = ["--size", "32", "--frames", "16", "--no-stabilize"]


def with_freeze(video: np.ndarray, start: int, length: int) -> np.ndarray:
    """`video` with frame `start` shown again for the next `length - 1` frames: a stalled stream."""
    video = video.copy()
    video[start:start + length] = video[start]
    return video


def noisy_still_room(frames: int, size: int = 64, sigma: float = 2.0, seed: int = 0) -> np.ndarray:
    """t h w 3 uint8 of a tripod on a still room: a fixed wall with fresh sensor noise in every frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32) / size
    wall = np.stack([150 + 30 * xx, 140 + 20 * yy, 120 + 10 * (xx + yy)], -1) + rng.normal(0, 4, (size, size, 1))
    return np.stack([np.clip(wall + rng.normal(0, sigma, wall.shape), 0, 255).astype(np.uint8)
                     for _ in range(frames)])


def prepared(out):
    clips, inputs = read_manifests(out / "shards")
    return clips, {r["source"]: r for r in inputs}


@settings(max_examples=40, deadline=None)
@given(total=st.integers(20, 90), data=st.data())
def test_a_frozen_run_anywhere_is_cut_whole_and_shorter_repeats_are_kept(total, data):
    length = data.draw(st.integers(2, total), label="length")
    start = data.draw(st.integers(0, total - length), label="start")
    video = with_freeze(moving_pattern(total, 8, 8), start, length)
    cuts = Cuts()
    kept = list(screen(((i / 25, f, False) for i, f in enumerate(video)), FreezeLimits(), cuts))
    times = [round(t * 25) for t, _, _ in kept]
    if length >= FREEZE_FRAMES:
        assert times == [i for i in range(total) if not start <= i < start + length]
        assert (cuts.frozen_frames, cuts.frozen_runs) == (length, 1)
        after = [cut for t, _, cut in kept if t * 25 > start]
        assert not after or after[0] == f"{length} frozen frames"  # the frame after the freeze starts a part
    else:
        assert times == list(range(total)) and cuts.frozen_frames == 0
    assert all(cut == "" for t, _, cut in kept if round(t * 25) != start + length)


def test_damage_and_a_stream_that_stops_short_are_cut_and_counted():
    # as the decoder reports them (decode.py): a damaged frame until the next key frame, None for a packet
    # that gave no frame, and (time, None) when the stream stopped before the end the file states
    frames = moving_pattern(8, 8, 8)
    decoded = [(0.0, frames[0], False), (None, None, True), (0.08, frames[2], True), (0.12, frames[3], True),
               (0.16, frames[4], False), (0.2, frames[5], True), (0.24, frames[6], False), (2.0, None, True)]
    cuts = Cuts()
    kept = [(t, cut) for t, _, cut in screen(decoded, FreezeLimits(), cuts)]
    assert [t for t, _ in kept] == [0.0, 0.16, 0.24] and kept[1][1] and kept[2][1]
    assert (cuts.damaged_frames, cuts.damaged_stretches, cuts.undecodable_packets) == (3, 3, 1)
    assert cuts.lost_seconds == pytest.approx(1.76)


def test_repeats_from_resampling_to_a_higher_rate_are_not_a_freeze(tmp_path):
    path = write_video(tmp_path / "slow.mp4", moving_pattern(20, 32, 32), fps=5)
    cuts = Cuts()
    frames = [frame for _, frame in iter_parts(path, fps=100, cuts=cuts)]  # each frame shown 20 times
    assert len(frames) >= 380 and cuts.frozen_frames == 0 and cuts.reasons == [""]


@pytest.mark.parametrize("frames, level, message", [
    (1, 0.1, "--freeze-frames must be 0 (off) or in [2, 250], got 1"),
    (-3, 0.1, "--freeze-frames must be 0 (off) or in [2, 250], got -3"),
    (100000, 0.1, "--freeze-frames must be 0 (off) or in [2, 250], got 100000"),
    (12, float("nan"), "--freeze-level must be in [0, 255] (8-bit levels), got nan"),
    (12, -1.0, "--freeze-level must be in [0, 255] (8-bit levels), got -1"),
])
def test_freeze_options_that_cannot_work_are_refused(frames, level, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        FreezeLimits(frames, level)


def test_prepare_cuts_a_frozen_stretch_and_keeps_both_sides(tmp_path, capsys):
    # 1.5 s of one frame between two seconds of motion, as a stalled stream leaves it
    video = with_freeze(moving_pattern(40 + 38 + 40, 32, 32), 40, 38)
    write_video(tmp_path / "src" / "stalled.mp4", video, crf=0)  # lossless: x264's lossy bytes vary run to run
    out = tmp_path / "out"
    assert main(["prepare", str(tmp_path / "src"), str(out), *ARGS]) == 0
    err = capsys.readouterr().err
    assert "cut from 1 input(s): 38 frozen frames (1 run(s))" in err
    clips, inputs = prepared(out)
    record = inputs["stalled.mp4"]
    assert record["cut"]["frozen_frames"] == 38 and record["segments"] == 2 and record["clips"] == 4
    for clip in clips:  # no clip holds the frozen stretch, each holds motion in every frame
        frames = load_clip(out / "shards", clip).astype(int)
        assert np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3)).min() > 1
    assert sorted(c["segment"] for c in clips if "segment" in c) in ([], [0, 0, 1, 1])


@pytest.mark.parametrize("name, damage", [("flipped.mp4", flip_middle), ("noise.mp4", damage_middle),
                                          ("noise.mkv", damage_middle), ("flipped.mkv", flip_middle)])
def test_prepare_keeps_no_clip_with_damaged_frames(tmp_path, capsys, name, damage):
    path = write_video(tmp_path / "src" / name, moving_pattern(120, 32, 32))
    clean = read_video(path).astype(int)  # what the decoder makes of the undamaged file
    damage(path)
    out = tmp_path / "out"
    code = main(["prepare", str(tmp_path / "src"), str(out), *ARGS, "--clip-format", "raw"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "cut from 1 input(s): " in err
    clips, inputs = prepared(out)
    record = inputs[name]
    assert record["cut"]["damaged_stretches"] >= 1 and code == 0
    assert record["status"] == "ok" and record["clips"] >= 1  # the footage before the damage is kept
    for clip in clips:  # every kept frame is one the undamaged file decodes to, not a concealed guess
        for frame in load_clip(out / "shards", clip).astype(int):
            assert np.abs(clean - frame).mean(axis=(1, 2, 3)).min() < 0.5


def test_a_still_room_with_sensor_noise_is_kept_whole(tmp_path, capsys):
    write_video(tmp_path / "src" / "room.mp4", noisy_still_room(64), crf=15)
    out = tmp_path / "out"
    assert main(["prepare", str(tmp_path / "src"), str(out), *ARGS]) == 0
    assert "cut from" not in capsys.readouterr().err
    record = prepared(out)[1]["room.mp4"]
    assert "cut" not in record and record["frames"] == 64 and record["clips"] == 4


def test_footage_that_is_nothing_but_a_freeze_is_skipped_naming_it(tmp_path, capsys):
    write_video(tmp_path / "src" / "stuck.mp4", with_freeze(moving_pattern(40, 32, 32), 0, 40))
    out = tmp_path / "out"
    assert main(["prepare", str(tmp_path / "src"), str(out), *ARGS]) == 1
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert skipped == [{"source": "stuck.mp4", "reason": "no clip left after cutting 40 frozen frames (1 run(s)) "
                                                         "(0 frames kept, 0 segment(s))"}]
    assert main(["prepare", str(tmp_path / "src"), str(tmp_path / "kept"), *ARGS, "--freeze-frames", "0"]) == 0


def test_an_out_folder_from_before_the_freeze_options_resumes(tmp_path):
    write_video(tmp_path / "src" / "a.mp4", moving_pattern(40, 32, 32))
    out = tmp_path / "out"
    assert main(["prepare", str(tmp_path / "src"), str(out), *ARGS]) == 0
    options = json.loads((out / "prepare.json").read_text())
    older = {k: v for k, v in options.items() if not k.startswith("freeze_")}
    (out / "prepare.json").write_text(json.dumps(older))  # as a run before these options wrote it
    assert main(["prepare", str(tmp_path / "src"), str(out), *ARGS]) == 0
    assert main(["prepare", str(tmp_path / "src"), str(out), *ARGS, "--freeze-frames", "20"]) == 2
