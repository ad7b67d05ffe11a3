import errno
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from videogan.cli import main
from videogan.data.clips import cut_clips
from videogan.data.shards import ShardWriter, load_clip, read_manifests
from videos import camera_shake_scene, damage_middle, moving_pattern, write_audio_only, write_frame_folder, write_video

ARGS = ["--size", "16", "--frames", "8"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "OMP_NUM_THREADS": "1"}


def prepare_command(src, out, *args):
    return [sys.executable, "-m", "videogan.cli", "prepare", str(src), str(out), *ARGS, *args]


def read_skipped(out) -> dict[str, str]:
    return {r["source"]: r["reason"] for r in map(json.loads, (out / "skipped.jsonl").read_text().splitlines())}


def write_sources(src, count: int, frames: int = 24) -> None:
    for i in range(count):
        write_video(src / f"v{i}.mp4", moving_pattern(frames, 24, 24, seed=i))


def test_every_bad_input_is_skipped_with_a_reason(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_video(src / "good.mp4", moving_pattern(16, 32, 48))
    write_video(src / "gray.mp4", moving_pattern(16, 32, 46), gray=True)
    write_video(src / "odd.gif", moving_pattern(16, 35, 33))
    write_video(src / "vfr.mp4", moving_pattern(12, 32, 32), fps=10, times=[i * 0.1 + (i > 5) * 0.3 for i in range(12)])
    write_video(src / "huge.mp4", moving_pattern(8, 1080, 1920), fps=8)
    write_frame_folder(src / "clip_frames", moving_pattern(10, 24, 24))
    (src / "empty.mp4").write_bytes(b"")
    (src / "text.avi").write_text("hello\n" * 100)
    (src / "notes.txt").write_text("my footage")
    write_audio_only(src / "audio.mp4")
    write_video(src / "single.mp4", moving_pattern(1, 32, 32))
    good = (src / "good.mp4").read_bytes()
    (src / "truncated.mp4").write_bytes(good[: len(good) // 2])
    damage_middle(write_video(src / "damaged.mp4", moving_pattern(48, 32, 32)))
    out = tmp_path / "out"
    assert main(["prepare", str(src), str(out), *ARGS, "--no-stabilize"]) == 1
    skipped = read_skipped(out)
    # notes.txt is no video file: not an input at all (text.avi claims to be one, so it is reported)
    assert set(skipped) == {"empty.mp4", "text.avi", "audio.mp4", "single.mp4", "truncated.mp4"}
    assert "empty" in skipped["empty.mp4"] and "no video stream" in skipped["audio.mp4"]
    assert "not a video" in skipped["single.mp4"] and "not a readable" in skipped["text.avi"]
    clips, inputs = read_manifests(out / "shards")
    ok = {r["source"] for r in inputs if r["status"] == "ok"}
    # damaged.mp4 keeps its clips before the damage (tests/test_data_defects.py checks what is cut)
    assert ok == {"good.mp4", "gray.mp4", "odd.gif", "vfr.mp4", "huge.mp4", "clip_frames", "damaged.mp4"}
    assert all(load_clip(out / "shards", c).shape == (8, 16, 16, 3) for c in clips)


def test_shards_round_trip_pixel_exact_with_manifest(tmp_path):
    writer = ShardWriter(tmp_path, "t", max_clips=2, clip_format="raw")
    rng = np.random.default_rng(0)
    written = {}
    for i in range(3):
        for j in range(i + 1):
            video = rng.integers(0, 256, (4 + j, 8, 8, 3), dtype=np.uint8)
            writer.add_clip(f"c{i}-{j}", video, {"source": f"s{i}"})
            written[f"c{i}-{j}"] = video
        writer.end_input({"source": f"s{i}", "status": "ok"})
    writer.add_clip("lost", written["c0-0"], {"source": "s3"})
    writer.end_input({"source": "s3", "status": "skipped", "reason": "x"}, keep_clips=False)
    writer.close()
    clips, inputs = read_manifests(tmp_path)
    assert sorted(c["key"] for c in clips) == sorted(written) and len(inputs) == 4
    for clip in clips:
        assert np.array_equal(load_clip(tmp_path, clip), written[clip["key"]])
        with tarfile.open(tmp_path / f"{clip['shard']}.tar") as tar:  # plain tar: ordinary tools read it
            member = tar.extractfile(f"{clip['key']}.npy").read()
        assert len(member) == clip["nbytes"]


def test_unfinished_shards_are_not_trusted(tmp_path):
    writer = ShardWriter(tmp_path, "killed")
    writer.add_clip("a", np.zeros((2, 4, 4, 3), np.uint8), {"source": "x"})
    writer.end_input({"source": "x", "status": "ok"})  # never closed: as if the process were killed
    (tmp_path / "orphan.jsonl").write_text('{"type": "input", "source": "y", "status": "ok"}\n')
    assert read_manifests(tmp_path) == ([], [])


KILLED_AT = """
import os, signal, sys
from videogan.data import prepare
original = prepare.process
def process(source, *args):
    if source.id == sys.argv[1]:  # SIGKILL, as `kill -9`: no clean-up code runs
        os.kill(os.getpid(), signal.SIGKILL)
    return original(source, *args)
prepare.process = process
from videogan.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_killed_run_loses_at_most_a_few_inputs_and_its_temporaries_go(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    write_sources(src, 10)
    args = ["prepare", str(src), str(out), *ARGS, "--no-stabilize"]  # default --shard-clips: 256
    killed = subprocess.run([sys.executable, "-c", KILLED_AT, "v9.mp4", *args], env=ENV, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    _, first = read_manifests(out / "shards")
    # shards are published every 4 inputs: v0-v7 survive the kill, only v8 and v9 are lost
    assert sorted(r["source"] for r in first) == [f"v{i}.mp4" for i in range(8)]
    assert list((out / "shards").glob("*.tmp"))  # the open shard, left by the killed process
    result = subprocess.run(prepare_command(src, out, "--no-stabilize"), env=ENV, capture_output=True, text=True)
    assert result.returncode == 0 and "8 already done" in result.stderr, result.stderr
    assert "removed 1 temporary file(s)" in result.stderr and not list(out.rglob("*.tmp"))
    clips, inputs = read_manifests(out / "shards")
    assert sorted(r["source"] for r in inputs) == sorted(f"v{i}.mp4" for i in range(10))  # each exactly once
    assert len(clips) == 10 * 3 == len((out / "manifest.jsonl").read_text().splitlines())


def test_job_array_shares_split_the_inputs(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        write_video(src / f"v{i}.mp4", camera_shake_scene(8, 128, seed=i)[0])
    out = tmp_path / "out"
    for index in range(2):
        assert main(["prepare", str(src), str(out), *ARGS, "--shard-index", str(index), "--num-shards", "2"]) == 0
    clips, inputs = read_manifests(out / "shards")
    assert sorted(r["source"] for r in inputs) == ["v0.mp4", "v1.mp4", "v2.mp4"]
    assert all(c["matches_min"] >= 10 and c["error_max"] < 2.5 for c in clips)
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == len(clips) == 3
    assert main(["prepare", str(src), str(out), "--size", "32"]) == 2  # other options: refused, not mixed


def test_clips_stay_within_segments_and_pad_only_if_asked():
    stream = [(0, np.full((2, 2, 3), i, np.uint8), {}) for i in range(10)] + \
             [(1, np.full((2, 2, 3), 100 + i, np.uint8), {}) for i in range(5)]
    clips = list(cut_clips(stream, length=4, stride=4, min_frames=3, pad=False))
    assert [(c.start, len(c.frames)) for c in clips] == [(0, 4), (4, 4), (10, 4)]
    clips = list(cut_clips(stream, length=4, stride=2, min_frames=2, pad=True))
    assert [(c.start, len(c.frames), c.padded) for c in clips] == [(0, 4, 0), (2, 4, 0), (4, 4, 0), (6, 4, 0),
                                                                   (8, 4, 2), (10, 4, 0), (12, 4, 1)]
    assert clips[-1].frames[-1, 0, 0, 0] == 104


def test_concurrent_array_jobs_share_one_folder(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    write_sources(src, 6)
    # started together: both create prepare.json, publish shards and rewrite the whole-set views at once
    jobs = [subprocess.Popen(prepare_command(src, out, "--no-stabilize", "--shard-clips", "1", "--shard-index",
                                             str(i), "--num-shards", "2"), env=ENV, stderr=subprocess.PIPE, text=True)
            for i in range(2)]
    for job in jobs:
        assert job.wait(timeout=120) == 0, job.stderr.read()
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    expected = [(f"v{i}.mp4", start) for i in range(6) for start in (0, 8, 16)]
    assert sorted((c["source"], c["start"]) for c in manifest) == expected
    assert (out / "skipped.jsonl").read_text() == "" and not list(out.rglob("*.tmp"))


def test_workers_prepare_every_input_once(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    write_sources(src, 4)
    assert main(["prepare", str(src), str(out), *ARGS, "--no-stabilize", "--workers", "2"]) == 0
    clips, inputs = read_manifests(out / "shards")
    assert sorted(r["source"] for r in inputs) == [f"v{i}.mp4" for i in range(4)] and len(clips) == 4 * 3
    assert all(c["shard"].split("-")[2] in ("w0", "w1") for c in clips)  # written by the worker processes
    assert all(load_clip(out / "shards", c).shape == (8, 16, 16, 3) for c in clips)


def test_output_errors_stop_the_run_and_leave_the_input_to_retry(tmp_path, monkeypatch, capsys):
    src, out = tmp_path / "src", tmp_path / "out"
    write_sources(src, 3)
    addfile, calls = tarfile.TarFile.addfile, []

    def disk_fills_after_three_clips(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return addfile(self, *args, **kwargs)

    monkeypatch.setattr(tarfile.TarFile, "addfile", disk_fills_after_three_clips)
    args = ["prepare", str(src), str(out), *ARGS, "--no-stabilize", "--shard-clips", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "shards/0000-" in err and "cannot write: no space left on device" in err
    _, inputs = read_manifests(out / "shards")
    assert [(r["source"], r["status"]) for r in inputs] == [("v0.mp4", "ok")]  # v1 is not recorded as skipped
    assert not list(out.rglob("*.tmp"))  # the torn shard is removed, not left for a reader
    monkeypatch.setattr(tarfile.TarFile, "addfile", addfile)
    assert main(args) == 0 and "1 already done, 2 to prepare" in capsys.readouterr().err
    clips, inputs = read_manifests(out / "shards")
    assert sorted(r["source"] for r in inputs) == ["v0.mp4", "v1.mp4", "v2.mp4"] and len(clips) == 9


@pytest.mark.parametrize("flag, value, reason", [("--frames", "0", "--frames must be positive, got 0"),
                                                 ("--stride", "0", "--stride must be positive, got 0"),
                                                 ("--size", "-16", "--size must be positive, got -16")])
def test_clip_geometry_must_be_positive(tmp_path, capsys, flag, value, reason):
    write_sources(tmp_path / "src", 1)
    assert main(["prepare", str(tmp_path / "src"), str(tmp_path / "out"), flag, value]) == 2
    assert reason in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_min_frames_zero_is_kept_not_replaced_by_the_default(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    write_sources(src, 1, frames=20)
    assert main(["prepare", str(src), str(out), *ARGS, "--no-stabilize", "--min-frames", "0"]) == 0
    assert json.loads((out / "prepare.json").read_text())["min_frames"] == 0
    clips, _ = read_manifests(out / "shards")
    assert sorted(c["frames"] for c in clips) == [4, 8, 8]  # the 4-frame tail is a clip too


def test_files_without_a_video_extension_are_not_inputs(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    write_sources(src, 1)
    (src / "notes.txt").write_text("shot on my phone")
    (src / ".DS_Store").write_bytes(b"\0Bud1")
    write_frame_folder(src / "thumbs", moving_pattern(1, 24, 24))  # one image: a thumbnail, not a video
    assert main(["prepare", str(src), str(out), *ARGS, "--no-stabilize"]) == 0
    _, inputs = read_manifests(out / "shards")
    assert [r["source"] for r in inputs] == ["v0.mp4"] and (out / "skipped.jsonl").read_text() == ""
