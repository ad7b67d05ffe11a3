"""A bad-input corpus for `videogan prepare`, generated here (nothing is downloaded): each case names its
expected outcome, a skip with a reason, a kept input (the run recovers what it can), or a one-line error.

Most single-file cases share one default `prepare` run (64 px, 32-frame clips, stabilization on), as a
user's folder would hold them side by side: a good file must survive beside every bad neighbour.
"""
import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from videogan.cli import main
from videogan.data.shards import read_manifests
from videogan.data.synthetic import render_video
from videos import damage_middle, moving_pattern, write_audio_only, write_frame_folder, write_video

FRAMES = 40  # enough for one default 32-frame clip


def wall_and_waving_figure(frames: int = 60, size: int = 64, seed: int = 0) -> np.ndarray:
    """t h w 3 uint8 from a still camera: a smooth wall (gentle colour gradient, a little fixed texture and
    sensor noise) and a dark figure waving both arms."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32) / size
    wall = np.stack([150 + 30 * xx, 140 + 20 * yy, 120 + 10 * (xx + yy)], -1)
    wall += cv2.GaussianBlur(rng.normal(0, 3, (size, size, 1)).astype(np.float32), (5, 5), 1.5)[..., None]
    video = []
    for t in range(frames):
        image = wall + rng.normal(0, 1.0, wall.shape)
        centre = (size // 2, size // 2)
        cv2.rectangle(image, (centre[0] - 5, centre[1] - 8), (centre[0] + 5, centre[1] + 20), (30, 25, 25), -1)
        cv2.circle(image, (centre[0], centre[1] - 13), 5, (40, 30, 30), -1)
        angle = 0.9 * np.sin(2 * np.pi * t / 20)
        for side in (-1, 1):
            hand = (int(centre[0] + side * 18 * np.cos(angle)), int(centre[1] - 6 - 18 * np.sin(angle)))
            cv2.line(image, (centre[0] + side * 5, centre[1] - 6), hand, (30, 25, 25), 3)
        video.append(np.clip(image, 0, 255).astype(np.uint8))
    return np.stack(video)


def still_scene(frames: int, height: int, width: int) -> np.ndarray:
    return wall_and_waving_figure(frames, max(height, width))[:, :height, :width]


def frozen_corrupt_tail(size: int = 64) -> np.ndarray:
    """A still shot whose last frames are one frame frozen and bent by an extreme perspective, as a
    broken decoder leaves it: stabilization must not warp them onto the shot."""
    video = wall_and_waving_figure(FRAMES, size)
    bend = np.array([[1.0, 0.3, 0.0], [0.1, 1.0, 0.0], [0.008, 0.004, 1.0]])
    corrupt = cv2.warpPerspective(video[FRAMES - 1], bend, (size, size))
    return np.concatenate([video, np.repeat(corrupt[None], 24, 0)])


def write_rotated(path: Path, frames: np.ndarray, degrees: int) -> Path:
    """An MP4 whose display matrix says "rotate by `degrees`" (phones tag portrait video -90)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], "yuv420p"
        stream.set_display_rotation(degrees)
        for image in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")))
        out.mux(stream.encode())
    return path


def top_half_white(frames: int, size: int = 32) -> np.ndarray:
    """The top half white, the bottom dark with a small grey square moving across it (a picture that never
    changes would be a frozen stream)."""
    video = np.full((frames, size, size, 3), 20, np.uint8)
    video[:, : size // 2] = 235
    for t in range(frames):
        x = t % (size - 4)
        video[t, size - 6:size - 2, x:x + 4] = 120
    return video


# name: (file or folder in SRC, how it is made, expected status, reason fragment or None)
SINGLE = {
    "empty file": ("empty.mp4", lambda p: p.write_bytes(b""), "skipped", "empty file (0 bytes)"),
    "text posing as video": ("text.avi", lambda p: p.write_text("hello\n" * 100), "skipped", "not a readable video"),
    "audio only": ("audio.mp4", write_audio_only, "skipped", "no video stream"),
    "one frame": ("single.mp4", lambda p: write_video(p, moving_pattern(1, 32, 32)), "skipped", "not a video"),
    "too short": ("short.mp4", lambda p: write_video(p, moving_pattern(5, 32, 32)), "skipped", "too short"),
    "truncated": ("truncated.mp4", lambda p: p.write_bytes(write_video(p, moving_pattern(FRAMES, 32, 32)).read_bytes()[:900]),
                  "skipped", ""),
    "damaged payload": ("damaged.mp4", lambda p: damage_middle(write_video(p, moving_pattern(FRAMES, 32, 32))),
                        "skipped", "no clip left after cutting"),
    "named pipe": ("pipe.mp4", lambda p: os.mkfifo(p), "skipped", "not a regular file (a named pipe)"),
    "dangling link": ("gone.mp4", lambda p: p.symlink_to(p.parent / "nowhere.mp4"), "skipped", "cannot read"),
    "newline and tab in name": ("bad\nname\t.mp4", lambda p: p.write_bytes(b""), "skipped", "empty file"),
    "still camera, smooth wall": ("wall.mp4", lambda p: write_video(p, wall_and_waving_figure()), "ok", None),
    "built-in dataset at 64 px": ("builtin.mp4", lambda p: write_video(p, render_video(0, 3, 48, 64)["video"]), "ok", None),
    "frozen corrupted tail": ("frozen.mp4", lambda p: write_video(p, frozen_corrupt_tail()), "ok", None),
    "rotated -90": ("rotated.mp4", lambda p: write_rotated(p, top_half_white(FRAMES), -90), "ok", None),
    "600 s timestamp gap": ("gap.mp4", lambda p: write_video(p, still_scene(2 * FRAMES, 32, 32), fps=25, times=[
        i * 0.04 + 600 * (i >= FRAMES) for i in range(2 * FRAMES)]), "ok", None),
    "variable frame rate": ("vfr.mp4", lambda p: write_video(p, still_scene(FRAMES, 32, 32), fps=10, times=[
        i * 0.04 + 0.1 * (i > 20) for i in range(FRAMES)]), "ok", None),
    "grey pixels": ("grey.mp4", lambda p: write_video(p, still_scene(FRAMES, 32, 46), gray=True), "ok", None),
    "odd-sized gif": ("odd.gif", lambda p: write_video(p, still_scene(FRAMES, 35, 33)), "ok", None),
    "folder of frames": ("frames", lambda p: write_frame_folder(p, still_scene(FRAMES, 24, 24)), "ok", None),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    src, out = root / "src", root / "out"
    src.mkdir()
    for name, make, _, _ in SINGLE.values():
        make(src / name)
    (src / "notes.txt").write_text("not an input at all")
    (src / "skipped.tsv").write_text("")  # unrelated to OUT's views
    result = subprocess.run([sys.executable, "-m", "videogan.cli", "prepare", str(src), str(out)], timeout=300,
                            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    clips, inputs = read_manifests(out / "shards")
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    return {"result": result, "clips": clips, "inputs": {r["source"]: r for r in inputs},
            "skipped": {r["source"]: r["reason"] for r in skipped}, "out": out}


@pytest.mark.parametrize("case", list(SINGLE))
def test_single_input(corpus, case):
    name, _, status, reason = SINGLE[case]
    record = corpus["inputs"][name]
    assert record["status"] == status, record
    if status == "skipped":
        assert reason in record["reason"] and corpus["skipped"][name] == record["reason"]
        assert "\n" not in record["reason"] and "Traceback" not in corpus["result"].stderr
    else:
        assert record["clips"] >= 1 and name not in corpus["skipped"]


def test_the_run_reports_every_skip_and_fails(corpus):
    result = corpus["result"]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{sum(s == 'skipped' for _, _, s, _ in SINGLE.values())} skipped" in result.stderr
    assert "notes.txt" not in corpus["inputs"] and "skipped.tsv" not in corpus["inputs"]


def test_still_camera_costs_no_clip_and_is_not_warped(corpus):
    record = corpus["inputs"]["wall.mp4"]
    assert record["segments"] == 1 and record["clips"] == 1
    clip = next(c for c in corpus["clips"] if c["source"] == "wall.mp4")
    assert clip["motion"] == {"still": 31}  # no warp: the frames are the decoded ones


def test_frozen_corrupted_frames_break_the_segment(corpus):
    clips = [c for c in corpus["clips"] if c["source"] == "frozen.mp4"]
    assert corpus["inputs"]["frozen.mp4"]["segments"] >= 2
    assert all(c["start"] + c["frames"] <= FRAMES or c["start"] >= FRAMES for c in clips)  # never across


def test_rotation_metadata_is_applied(corpus):
    from videogan.data.shards import load_clip

    clip = load_clip(corpus["out"] / "shards", next(c for c in corpus["clips"] if c["source"] == "rotated.mp4"))
    # stored with the top half white; shown turned 90 degrees clockwise, the right half is white
    left, right = clip[:, :, :32].mean(), clip[:, :, 32:].mean()
    assert right > 200 and left < 60, (left, right)


def test_a_pause_is_a_segment_break_not_a_flood_of_copies(corpus):
    record = corpus["inputs"]["gap.mp4"]
    assert record["frames"] <= 2 * FRAMES + 2 and record["segments"] >= 2 and record["clips"] == 2


def test_class_folders_record_class_and_label_and_are_counted(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    for index, name in enumerate(["wave", "bend"]):
        write_video(src / name / "a.mp4", moving_pattern(FRAMES, 32, 32, seed=index))
    (src / "bend" / "b.mp4").write_bytes(b"")
    result = subprocess.run([sys.executable, "-m", "videogan.cli", "prepare", str(src), str(out), "--no-stabilize"],
                            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    clips = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert {(c["source"], c["class"], c["label"]) for c in clips} == {("bend/a.mp4", "bend", 0), ("wave/a.mp4", "wave", 1)}
    assert "bend: 1 kept, 1 skipped" in result.stderr and "wave: 1 kept, 0 skipped" in result.stderr


def test_unreadable_folder_is_reported(tmp_path, monkeypatch, capsys):
    src, out = tmp_path / "src", tmp_path / "out"
    write_video(src / "good.mp4", moving_pattern(FRAMES, 32, 32))
    write_video(src / "locked" / "hidden.mp4", moving_pattern(FRAMES, 32, 32))
    scandir, locked = os.scandir, str(src / "locked")

    def denied(path="."):  # chmod 000 does not stop root: refuse the listing as the kernel would
        if os.fspath(path) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), locked)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    assert main(["prepare", str(src), str(out), "--no-stabilize"]) == 1
    err = capsys.readouterr().err
    assert "1 folder(s) unreadable" in err and "skipped 'locked/': unreadable folder (Permission denied)" in err
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert skipped == [{"source": "locked/", "reason": "unreadable folder (Permission denied)"}]
    monkeypatch.setattr(os, "scandir", scandir)
    assert main(["prepare", str(src), str(out), "--no-stabilize"]) == 0  # readable again: its video is prepared
    assert "locked/hidden.mp4" in {r["source"] for r in read_manifests(out / "shards")[1]}


def test_retry_skipped_recovers_a_file_that_was_still_being_copied(tmp_path, capsys):
    src, out = tmp_path / "src", tmp_path / "out"
    good = write_video(tmp_path / "full.mp4", moving_pattern(FRAMES, 32, 32)).read_bytes()
    src.mkdir()
    (src / "copying.mp4").write_bytes(good[:300])
    assert main(["prepare", str(src), str(out), "--no-stabilize"]) == 1
    (src / "copying.mp4").write_bytes(good)
    assert main(["prepare", str(src), str(out), "--no-stabilize"]) == 1
    assert "(1 of them skipped by an earlier run; --retry-skipped" in capsys.readouterr().err
    assert main(["prepare", str(src), str(out), "--no-stabilize", "--retry-skipped"]) == 0
    assert "1 skipped before, tried again" in capsys.readouterr().err
    assert (out / "skipped.jsonl").read_text() == "" and len((out / "manifest.jsonl").read_text().splitlines()) == 1


def test_stale_temporaries_and_old_views_are_cleaned(tmp_path, capsys):
    src, out = tmp_path / "src", tmp_path / "out"
    write_video(src / "v.mp4", moving_pattern(FRAMES, 32, 32))
    (out / "shards").mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    stale = out / "shards" / f"0000-abc-00000.tar.{socket.gethostname()}-{dead.pid}-deadbeef.tmp"
    stale.write_bytes(b"\0" * 1024)
    (out / "skipped.tsv").write_text("old\tview\n")
    assert main(["prepare", str(src), str(out), "--no-stabilize"]) == 0
    assert "removed 1 temporary file(s)" in capsys.readouterr().err
    assert not stale.exists() and not (out / "skipped.tsv").exists()


@pytest.mark.parametrize("flags, message", [
    (["--fps", "2500"], "--fps must be in (0, 240], got 2500"),
    (["--fps", "nan"], "argument --fps: expected a finite number, got 'nan'"),
    (["--fps", "0"], "--fps must be in (0, 240], got 0"),
    (["--workers", "0"], "--workers must be positive, got 0"),
    (["--workers", "-2"], "--workers must be positive, got -2"),
    (["--shard-clips", "0"], "--shard-clips must be positive, got 0"),
    (["--size", "100000"], "--size must be at most 1024 pixels, got 100000"),
    (["--work-side", "5000"], "--work-side must be at most 1024 pixels, got 5000"),
    (["--min-frames", "40"], "--min-frames must be in [0, --frames 32], got 40"),
    (["--frames", "8", "--min-frames", "9"], "--min-frames must be in [0, --frames 8], got 9"),
    (["--freeze-frames", "1"], "--freeze-frames must be 0 (off) or in [2, 250], got 1"),
    (["--freeze-level", "inf"], "argument --freeze-level: expected a finite number, got 'inf'"),
])
def test_absurd_options_are_one_line_errors(tmp_path, capsys, flags, message):
    write_video(tmp_path / "src" / "v.mp4", moving_pattern(8, 32, 32))
    assert main(["prepare", str(tmp_path / "src"), str(tmp_path / "out"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1



def test_inputs_behind_a_link_are_read_once_and_no_inputs_is_an_error(tmp_path, capsys):
    real, src = tmp_path / "real", tmp_path / "src"
    write_video(real / "a.mp4", moving_pattern(FRAMES, 32, 32))
    src.mkdir()
    (src / "footage").symlink_to(real)  # the folder's only entry
    (real / "loop").symlink_to(real)  # a link back up must not loop
    assert main(["prepare", str(src), str(tmp_path / "out"), "--no-stabilize"]) == 0
    assert [r["source"] for r in read_manifests(tmp_path / "out" / "shards")[1]] == ["footage/a.mp4"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no video here")
    capsys.readouterr()
    assert main(["prepare", str(tmp_path / "empty"), str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "empty: no inputs found (no video file .mp4/" in err and len(err.strip().splitlines()) == 1


def test_a_name_that_is_not_utf8_is_read(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    name = os.fsdecode(b"caf\xe9.mp4")  # Latin-1 bytes, as an old camera or archive may name a file
    write_video(tmp_path / "v.mp4", moving_pattern(FRAMES, 32, 32)).rename(src / name)
    assert main(["prepare", str(src), str(tmp_path / "out"), "--no-stabilize"]) == 0
    assert [(r["source"], r["status"]) for r in read_manifests(tmp_path / "out" / "shards")[1]] == [(name, "ok")]


def test_a_video_file_as_source_is_its_one_input_and_a_binary_list_is_refused(tmp_path, capsys):
    video = write_video(tmp_path / "v.mp4", moving_pattern(FRAMES, 32, 32))
    assert main(["prepare", str(video), str(tmp_path / "out"), "--no-stabilize"]) == 0
    assert [r["source"] for r in read_manifests(tmp_path / "out" / "shards")[1]] == ["v.mp4"]
    listing = tmp_path / "list.txt"
    listing.write_bytes(video.read_bytes())
    capsys.readouterr()
    assert main(["prepare", str(listing), str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "list.txt: the input (not a folder or a video file, so a text list of videos) is not UTF-8 text" in err
    assert len(err.strip().splitlines()) == 1
