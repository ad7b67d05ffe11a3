import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from videogan.cli import main
from videogan.data.clip_formats import DEFAULT_FORMAT, FORMATS
from videogan.data.formats import PreparedShards
from videogan.data.shards import ShardWriter, load_clip, read_manifests
from videos import moving_pattern, write_video

OLD_RAW_SHARDS = Path(__file__).parent / "data" / "raw-shards"  # written by the code before clip formats


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return np.inf if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def write_shard(folder: Path, clips: dict[str, np.ndarray], clip_format: str = DEFAULT_FORMAT,
                prefix: str = "t") -> list[dict]:
    """`clips` written into one shard in `folder`; returns the manifest lines of every shard there."""
    writer = ShardWriter(folder, prefix, clip_format=clip_format)
    for key, clip in clips.items():
        writer.add_clip(key, clip, {"source": key})
        writer.end_input({"source": key, "status": "ok"})
    writer.close()
    return read_manifests(folder)[0]


@settings(max_examples=40, deadline=None)
@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 40), st.integers(1, 40)),
       name=st.sampled_from(sorted(FORMATS)))
def test_every_clip_shape_round_trips_in_every_format(shape, name):
    clip = moving_pattern(*shape, seed=sum(shape))  # t h w 3 uint8, a smooth texture (natural for JPEG)
    with tempfile.TemporaryDirectory() as folder:
        (record,) = write_shard(Path(folder), {"c": clip}, name)
        decoded = load_clip(folder, record)
    assert record["format"] == name and decoded.shape == clip.shape and decoded.dtype == np.uint8
    if name == "raw":
        assert np.array_equal(decoded, clip)
    elif min(shape[1:]) >= 16:  # smaller, the test texture is per-pixel noise, which no JPEG keeps
        assert psnr(decoded, clip) > 30


def test_shards_written_before_clip_formats_still_load(tmp_path):
    shutil.copytree(OLD_RAW_SHARDS, tmp_path / "old")
    clips, _ = read_manifests(tmp_path / "old" / "shards")
    assert all("format" not in c for c in clips)  # as the old code wrote them
    for i, record in enumerate(sorted(clips, key=lambda c: c["key"])):
        expected = ((np.arange(4 * 6 * 8 * 3).reshape(4, 6, 8, 3) * (i + 1)) % 256).astype(np.uint8)
        assert np.array_equal(load_clip(tmp_path / "old" / "shards", record), expected)
    data = PreparedShards(tmp_path / "old", frames=4, size=6)
    assert len(data) == 2 and data[0]["video"].shape == (3, 4, 6, 6)


def test_prepare_writes_the_default_format_and_raw_on_request_into_one_folder(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    write_video(src / "a.mp4", moving_pattern(16, 24, 24, seed=1))
    args = ["prepare", str(src), str(out), "--size", "16", "--frames", "8", "--no-stabilize"]
    assert main([*args, "--clip-format", "raw"]) == 0
    write_video(src / "b.mp4", moving_pattern(16, 24, 24, seed=2))
    assert main(args) == 0  # the same folder, resumed with the default format: only b is new
    clips, _ = read_manifests(out / "shards")
    formats = {c["source"]: c["format"] for c in clips}
    assert formats == {"a.mp4": "raw", "b.mp4": DEFAULT_FORMAT}
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert {c["format"] for c in manifest} == {"raw", DEFAULT_FORMAT}
    assert all(load_clip(out / "shards", c).shape == (8, 16, 16, 3) for c in clips)


def test_unknown_clip_format_is_refused(tmp_path, capsys):
    assert main(["prepare", str(tmp_path), str(tmp_path / "out"), "--clip-format", "png"]) == 2
    assert "invalid choice: 'png'" in capsys.readouterr().err


def damaged_shard(tmp_path: Path, at: float, keep_checksum: bool) -> tuple[Path, dict]:
    """A one-clip jpeg shard with the byte at fraction `at` of its clip flipped."""
    (record,) = write_shard(tmp_path, {"clip": moving_pattern(8, 32, 32)})
    tar = tmp_path / f"{record['shard']}.tar"
    data = bytearray(tar.read_bytes())
    data[record["offset"] + int(at * (record["nbytes"] - 1))] ^= 0xFF
    tar.write_bytes(data)
    if not keep_checksum:
        record = {k: v for k, v in record.items() if k != "crc32"}
    return tar, record


@settings(max_examples=25, deadline=None)
@given(at=st.floats(0, 1))
def test_any_damaged_byte_is_an_error_naming_shard_and_member(at):
    with tempfile.TemporaryDirectory() as folder:
        tar, record = damaged_shard(Path(folder), at, keep_checksum=True)
        with pytest.raises(ValueError, match=f"shard {tar} member clip.jpg: damaged") as err:
            load_clip(folder, record)
    assert "\n" not in str(err.value)


@settings(max_examples=25, deadline=None)
@given(at=st.floats(0, 1))
@example(at=0.02401886550579891)  # the header's width became 65312: a strip of 8 frames of 32 x 65312
def test_without_checksums_a_damaged_clip_is_a_named_error_or_the_right_shape(at):
    """A manifest without `crc32` (hand-made, or edited): the decoder is the last line of defence."""
    with tempfile.TemporaryDirectory() as folder:
        tar, record = damaged_shard(Path(folder), at, keep_checksum=False)
        try:
            clip = load_clip(folder, record)
        except ValueError as err:
            assert str(err).startswith(f"shard {tar} member clip.jpg: not a readable jpeg clip")
        else:
            assert clip.shape == (8, 32, 32, 3)


def test_a_clip_in_an_unknown_format_is_skipped_naming_its_manifest_line(tmp_path, caplog):
    (record,) = write_shard(tmp_path, {"clip": moving_pattern(2, 8, 8)})
    manifest = tmp_path / "t-00000.jsonl"
    manifest.write_text(manifest.read_text().replace('"format": "jpeg"', '"format": "av1"'))
    with caplog.at_level(logging.WARNING):
        clips, inputs = read_manifests(tmp_path)
    assert clips == [] and len(inputs) == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"skipping {manifest}:1: unknown clip format 'av1' (this version reads jpeg, raw)"]


def test_training_skips_a_damaged_clip_with_one_line_naming_it(tmp_path, caplog):
    tar, _ = damaged_shard(tmp_path / "prepared" / "shards", 0.5, keep_checksum=True)
    write_shard(tmp_path / "prepared" / "shards", {"good": moving_pattern(8, 32, 32)}, prefix="u")
    data = PreparedShards(tmp_path / "prepared", frames=8, size=16)
    with caplog.at_level(logging.WARNING):
        items = [data[i] for i in range(len(data))]
    assert all(item["video"].shape == (3, 8, 16, 16) for item in items)
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "member clip.jpg: damaged" in warning and "\n" not in warning
