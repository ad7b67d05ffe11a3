"""Every file format the project reads, damaged in generated ways (truncated, flipped bytes, swapped types,
missing and extra keys, huge and non-finite numbers, wrong shapes): each reader gives a one-line error
naming the file (exit 2 from the command line), skips the bad record naming file:line, or reads it; never
another exception, and no existing file changes."""
import hashlib
import io
import json
import logging
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from videogan.checkpoint import content_hash, list_checkpoints, load_checkpoint
from videogan.cli import main
from videogan.config import get_preset, replace
from videogan.data import images
from videogan.data.formats import PreparedShards
from videogan.data.prepare import latest_records
from videogan.data.shards import ShardWriter, load_clip, read_manifests
from videogan.tasks.future import load_image
from videogan.tasks.recognition.finetune import load_discriminator
from videogan.train.gan import train

from forged import forged_copy  # tests/forged.py

FIXTURE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

# values of every type a JSON or pickle field could hold instead of the right one
ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6), st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                                     max_size=2))
TENSORS = st.builds(lambda shape, fill: torch.full(shape, fill),
                    shape=st.lists(st.integers(0, 3), max_size=4).map(tuple),
                    fill=st.floats(allow_nan=True, allow_infinity=True, width=32))
ODD_OR_TENSOR = st.one_of(ODD, TENSORS)


def folder_hash(folder: Path, leave_out: str = ".videogan.lock") -> str:
    """One sha256 over every file's name and bytes (the lock file, emptied by each command, left out)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != leave_out:
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def one_line_error(capsys, command: str, names: str) -> None:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"videogan {command}: error: ") and names in last, err


# ---- checkpoints -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("trained") / "run"
    config = replace(get_preset("tiny"), train={"iterations": 2, "checkpoint_every": 2, "sample_every": 100,
                                                "device": "cpu"})
    train(config, run, progress=False)
    return run


def _set(path: tuple, value):
    """A change of the checkpoint: the entry at `path` (keys into nested dicts) set to `value`."""
    def change(state):
        *parents, last = path
        for key in parents:
            state = state[key]
        state[last] = value
    change.__qualname__ = f"set {path} = {value!r}"[:120]
    return change


def _drop(path: tuple):
    def change(state):
        *parents, last = path
        for key in parents:
            state = state[key]
        state.pop(last, None)
    change.__qualname__ = f"drop {path}"
    return change


TOP_KEYS = ["config", "format_version", "iteration", "world_size", "generator", "discriminator", "opt_g", "opt_d",
            "rng", "kind", "gmm", "generator_ema", "extra"]
WEIGHTS = [("generator", "trunk.0.0.weight"), ("generator", "background.3.weight"),
           ("discriminator", "features.0.0.weight"), ("discriminator", "classifier.weight")]
CONFIG_FIELDS = [("model", "frames"), ("model", "g_width"), ("model", "task"), ("train", "batch_size"),
                 ("data", "source"), ("model", "unknown")]
COVARIANCES = st.sampled_from(["full", "tied", "diag", "spherical", "other"])

CHANGES = st.one_of(
    st.builds(lambda key, value: _set((key,), value), st.sampled_from(TOP_KEYS), ODD_OR_TENSOR),
    st.builds(lambda key: _drop((key,)), st.sampled_from(TOP_KEYS)),
    st.builds(lambda where, value: _set(("config", *where), value), st.sampled_from(CONFIG_FIELDS), ODD),
    st.builds(lambda section, value: _set(("config", section), value), st.sampled_from(["model", "train"]), ODD),
    st.builds(lambda where, value: _set(where, value), st.sampled_from(WEIGHTS), TENSORS),
    st.builds(lambda where: _drop(where), st.sampled_from(WEIGHTS)),
    st.builds(lambda net, name: _set((net, name), torch.zeros(2)), st.sampled_from(["generator", "discriminator"]),
              st.text(min_size=1, max_size=8)),
    st.builds(lambda field, value: _set(("rng", "global", *field), value),
              st.sampled_from([("torch",), ("numpy", "pos"), ("numpy", "keys"), ("python", "internal"),
                               ("python", "version"), ("numpy",)]), ODD_OR_TENSOR),
    st.builds(lambda opt, value: _set((opt, "param_groups"), value), st.sampled_from(["opt_g", "opt_d"]), ODD),
    st.builds(lambda moment, value: _set(("opt_g", "state", 0, moment), value),
              st.sampled_from(["exp_avg", "exp_avg_sq", "step"]), ODD_OR_TENSOR),
    st.builds(lambda k, d, shape, kind, fill: _set(("gmm",), {
        "weights": torch.rand(k), "means": torch.zeros(k, d), "covariances": torch.full(shape, fill),
        "covariance_type": kind}), st.integers(0, 3), st.sampled_from([16, 4]),
        st.lists(st.integers(1, 3), max_size=3).map(tuple), COVARIANCES, st.floats(-1, 2)),
)


@given(change=CHANGES)
@example(change=_set(("config",), "tiny"))
@example(change=_set(("generator",), torch.zeros(3)))
@example(change=_set(("format_version",), "1"))
@example(change=_set(("rng",), 5))
@example(change=_set(WEIGHTS[0], torch.full((16, 16, 2, 4, 4), float("nan"))))
@example(change=_set(WEIGHTS[2], torch.zeros(8, 3, 2, 4, 4)))  # recognize --init with a wrong-shaped D
@example(change=_set(("opt_g", "state", 0, "exp_avg"), torch.zeros(2)))
@example(change=_set(("opt_g", "state", 0, "exp_avg"), torch.tensor(0.0)))  # broadcast: failed in the first step
@example(change=_set(("opt_g", "state", 0, "step"), torch.tensor(0.0)))  # bias correction divides by 0
@example(change=_set(("opt_g", "state", 0, "exp_avg"), None))
@example(change=_drop(("rng",)))
@example(change=_drop(("iteration",)))
@example(change=_set(("iteration",), 4))  # past --iterations 3: the resume has nothing to do
@example(change=_set(("gmm",), {"weights": torch.ones(2), "means": torch.zeros(2, 16),
                                 "covariances": -torch.eye(16).repeat(2, 1, 1), "covariance_type": "full"}))
@settings(max_examples=20, deadline=None, suppress_health_check=FIXTURE)
def test_a_forged_checkpoint_is_one_line_or_reads_everywhere(trained_run, tmp_path, capsys, change):
    run = forged_copy(trained_run, tmp_path, change)
    before = folder_hash(run)
    status = main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "samples")])
    if status == 2:
        one_line_error(capsys, "sample", str(run))
    else:
        assert status == 0 and (tmp_path / "samples").exists()
    try:
        load_discriminator(str(run))  # recognize --init
    except ValueError as err:
        assert "\n" not in str(err) and str(run) in str(err)
    assert folder_hash(run) == before
    try:
        saved = load_checkpoint(run).get("iteration")
    except ValueError:
        saved = None
    status = main(["train", "--resume", str(run), "--iterations", "3", "--no-progress"])
    if status == 2:
        one_line_error(capsys, "train", "")
        assert folder_hash(run) == before  # a refused resume changes nothing
    else:  # a run already past --iterations says so and stays where it is
        assert status == 0 and saved is not None and load_checkpoint(run)["iteration"] == max(3, saved)


def test_nan_weights_are_refused_not_sampled_black(trained_run, tmp_path, capsys):
    run = forged_copy(trained_run, tmp_path, _set(WEIGHTS[0], torch.full((16, 16, 2, 4, 4), float("nan"))))
    assert main(["sample", str(run), "--out", str(tmp_path / "out")]) == 2
    one_line_error(capsys, "sample", "generator['trunk.0.0.weight'] holds NaN or infinite values")
    assert not (tmp_path / "out").exists()


def test_recognize_init_with_a_wrong_shaped_discriminator_names_the_first_key(trained_run, tmp_path):
    run = forged_copy(trained_run, tmp_path, _set(WEIGHTS[2], torch.zeros(8, 3, 2, 4, 4)))
    with pytest.raises(ValueError, match=r"its discriminator does not fit the VideoDiscriminator its config "
                                         r"describes: features\.0\.0\.weight has shape \(8, 3, 2, 4, 4\), "
                                         r"the model's \(8, 3, 4, 4, 4\)"):
        load_discriminator(str(run))


def _hash_of(state: dict) -> str:
    return content_hash({k: v for k, v in state.items() if k != "path"})  # where it was loaded from aside


@given(cut=st.one_of(st.none(), st.floats(0, 1, exclude_max=True)),
       flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=4))
@example(cut=None, flips=[(0.000136, 255)])  # inside data.pkl: torch explains an unpickling error in paragraphs
@example(cut=0.5, flips=[])
@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE)
def test_a_truncated_or_flipped_checkpoint_is_one_line_or_its_content_unchanged(trained_run, tmp_path, cut, flips):
    original = list_checkpoints(trained_run)[-1]
    content = bytearray(original.read_bytes())
    for at, mask in flips:
        content[int(at * len(content))] ^= mask
    content = content[:int(cut * len(content))] if cut is not None else content
    damaged = tmp_path / "checkpoint-0000002.pt"
    damaged.write_bytes(bytes(content))
    try:
        state = load_checkpoint(damaged)
    except ValueError as err:
        assert "\n" not in str(err) and str(damaged) in str(err)
    else:  # bytes that torch does not read (zip padding, comments): the content is the original's
        assert _hash_of(state) == _hash_of(load_checkpoint(original))
    assert damaged.read_bytes() == bytes(content)


# ---- shards and manifests ----------------------------------------------------------------------------------

MANIFEST_KEYS = ["type", "shard", "key", "offset", "nbytes", "frames", "height", "width", "format", "crc32", "label",
                 "source", "status", "reason", "prepared", "extra"]


def _prepared(root: Path, clip_format: str) -> Path:
    writer = ShardWriter(root / "shards", "t", clip_format=clip_format)
    rng = np.random.default_rng(0)
    for i in range(2):
        writer.add_clip(f"c{i}", rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8), {"source": f"v{i}.mp4"})
        writer.end_input({"source": f"v{i}.mp4", "status": "ok", "prepared": float(i)})
    writer.close()
    return root / "shards" / "t-00000.jsonl"


def _read_everything(root: Path) -> None:
    """What training and prepare read of a prepared folder: the dataset's items, each input's latest record."""
    latest_records(read_manifests(root / "shards")[1])
    try:
        data = PreparedShards(root, frames=4, size=8)
    except ValueError as err:
        assert "no complete shards with clips" in str(err)
        return
    for i in range(len(data)):
        try:
            assert data[i]["video"].shape == (3, 4, 8, 8)
        except ValueError as err:
            assert "consecutive items failed" in str(err) and "\n" not in str(err)


LINE_CHANGES = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(MANIFEST_KEYS), ODD),
    st.tuples(st.just("drop"), st.sampled_from(MANIFEST_KEYS), st.none()),
    st.tuples(st.just("line"), st.just(""), st.one_of(ODD, st.text(max_size=20))),  # the whole line replaced
    st.tuples(st.just("copy"), st.just(""), st.none()),  # the line written twice
)


@given(clip_format=st.sampled_from(["raw", "jpeg"]), line=st.integers(0, 3), change=LINE_CHANGES,
       cut=st.one_of(st.none(), st.integers(0, 400)))
@example(clip_format="raw", line=0, change=("drop", "type", None), cut=None)
@example(clip_format="raw", line=0, change=("set", "offset", 10 ** 15), cut=None)
@example(clip_format="raw", line=0, change=("set", "offset", -1), cut=None)
@example(clip_format="jpeg", line=0, change=("set", "nbytes", 2 ** 62), cut=None)
@example(clip_format="raw", line=1, change=("set", "prepared", "yesterday"), cut=None)
@example(clip_format="raw", line=0, change=("set", "source", None), cut=None)
@example(clip_format="raw", line=0, change=("set", "format", []), cut=None)  # unhashable: `in FORMATS` raised
@example(clip_format="jpeg", line=3, change=("set", "type", "clip"), cut=150)  # torn in the middle of a line
@example(clip_format="raw", line=0, change=("copy", "", None), cut=None)  # a clip's line twice
@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE)
def test_a_bad_manifest_line_is_skipped_naming_file_and_line(tmp_path, caplog, clip_format, line, change, cut):
    root = tmp_path / "prepared"
    manifest = _prepared(root, clip_format)
    lines = manifest.read_text().splitlines()
    kind, key, value = change
    record = json.loads(lines[line])
    if kind == "set":
        record[key] = value
    elif kind == "drop":
        record.pop(key, None)
    new = json.dumps(record) if kind != "line" else (value if isinstance(value, str) else json.dumps(value))
    lines[line:line + 1] = [new, new] if kind == "copy" else [new]
    text = "\n".join(lines) + "\n"
    manifest.write_text(text[:cut] if cut is not None else text)
    before = folder_hash(root)
    with caplog.at_level(logging.WARNING):
        _read_everything(root)
    for message in (r.getMessage() for r in caplog.records):
        assert "\n" not in message
        assert message.startswith((f"skipping {manifest}:", f"skipping {root / 'shards' / 't-00000.tar'}:"))
    assert folder_hash(root) == before
    if kind == "copy" and cut is None:  # a clip is served once however often its line is written
        clips = read_manifests(root / "shards")[0]
        assert len(clips) == len({c["key"] for c in clips}) == 2


def _npy(shape_text: str, data: bytes, descr: str = "|u1") -> bytes:
    """An .npy file whose header claims `shape_text`, whatever `data` holds."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1") + data


@given(shape=st.one_of(st.lists(st.integers(0, 2 ** 40), max_size=5).map(lambda s: str(tuple(s))),
                       st.text(st.characters(max_codepoint=255), max_size=12)),
       descr=st.sampled_from(["|u1", "<f8", "|O", "<i4", "x"]), size=st.integers(0, 800),
       cut=st.one_of(st.none(), st.integers(0, 200)))
@example(shape="(4, 999999999, 99999, 3)", descr="|u1", size=768, cut=None)  # an absurd shape in the header
@example(shape="(768,)", descr="|u1", size=768, cut=None)  # a 1-D array
@example(shape="(4, 8, 8, 3)", descr="|u1", size=768, cut=None)  # the right one
@settings(max_examples=40, deadline=None)
def test_a_raw_clip_is_checked_before_any_array_is_made(shape, descr, size, cut):
    data = _npy(shape, bytes(size), descr)
    data = data[:cut] if cut is not None else data
    with TemporaryDirectory() as folder:
        tar = Path(folder) / "t-00000.tar"
        tar.write_bytes(data)
        record = {"shard": "t-00000", "key": "c", "offset": 0, "nbytes": len(data), "frames": 4, "format": "raw"}
        try:
            clip = load_clip(folder, record)
        except ValueError as err:
            assert str(err).startswith(f"shard {tar} member c.npy: ") and "\n" not in str(err)
        else:
            assert clip.shape == (4, 8, 8, 3) and clip.flags.writeable


# ---- images ------------------------------------------------------------------------------------------------

IMAGE_FORMATS = ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]


@given(width=st.integers(1, 120), height=st.integers(1, 120), mode=st.sampled_from(["RGB", "L", "P", "RGBA", "I"]),
       fmt=st.sampled_from(IMAGE_FORMATS), damage=st.sampled_from(["none", "truncate", "flip"]), data=st.data())
@example(width=101, height=100, mode="L", fmt="PNG", damage="none", data=None)  # above the limit: a "bomb"
@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE)
def test_an_image_is_read_or_refused_in_one_line(tmp_path, monkeypatch, width, height, mode, fmt, damage, data):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # the bomb limit, scaled down to small files
    pixels = Image.fromarray(np.random.default_rng(width * height).integers(0, 256, (height, width, 3), np.uint8))
    buffer = io.BytesIO()
    try:
        pixels.convert(mode).save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):  # a mode this format cannot store
        assume(False)
    content = bytearray(buffer.getvalue())
    if damage == "truncate" and data is not None:
        content = content[:data.draw(st.integers(0, len(content) - 1), label="length")]
    elif damage == "flip" and data is not None:
        for at in data.draw(st.lists(st.integers(0, len(content) - 1), min_size=1, max_size=4), label="flipped"):
            content[at] ^= 0xFF
    path = tmp_path / f"in.{fmt.lower()}"
    path.write_bytes(bytes(content))
    try:
        image = load_image(path, 16)
    except images.ImageError as err:
        assert str(err).startswith(f"{path}: ") and "\n" not in str(err)
        if damage == "none":
            assert width * height > Image.MAX_IMAGE_PIXELS and "decompression bomb" in str(err)
    else:
        assert image.shape == (3, 16, 16) and bool(torch.isfinite(image).all())
        assert width * height <= Image.MAX_IMAGE_PIXELS
    assert path.read_bytes() == bytes(content)
