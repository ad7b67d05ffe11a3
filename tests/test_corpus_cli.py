"""The bad-input corpus of the command line, checkpoints, caches and run folders (issue 11, sections 2-6).

Every case is built here, from a tiny run trained once, and names its expected outcome:
- ERROR: exit code 2 and exactly one line on stderr, `videogan CMD: error: ...` holding the expected text
  (never a traceback);
- RECOVERY: the command succeeds and the check after it holds (what was damaged is reported, nothing
  the user made is lost).
The damaged I3D weights cases (flipped byte, missing key, forged values, zero bytes; reconversion) are in
test_i3d.py, which has the weights; the `prepare` inputs are in test_corpus_prepare.py.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from videogan.checkpoint import list_checkpoints
from videogan.cli import COMMANDS, build_parser, main
from videogan.cli.runs import clip_size_note
from videogan.config import ConfigError, DataConfig, RunConfig, TrainConfig, get_preset
from videogan.eval import evaluate as evaluate_module

TINY = ["--preset", "tiny", "--iterations", "4", "--checkpoint-every", "2", "--sample-every", "100",
        "--device", "cpu", "--no-progress"]
UNWRITABLE = "/proc/videogan-corpus"  # refuses new files even for root, unlike a chmod-ed folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run with checkpoints at iterations 2 and 4; cases copy it before they damage anything."""
    run = tmp_path_factory.mktemp("corpus") / "run"
    assert main(["train", "--out", str(run), *TINY]) == 0
    return run


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def _videogan(args, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit:  # argparse's own usage errors
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def _assert_error(args, expected, capsys):
    code, _, err = _videogan(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and expected in lines[0] and ": error: " in lines[0], err
    return lines[0]


def _flip_tensor_byte(checkpoint: Path) -> None:
    """Flip a byte inside the generator's largest weight tensor, where torch.load itself notices nothing."""
    state = torch.load(checkpoint, weights_only=True)
    tensor = max(state["generator"].values(), key=lambda t: t.numel())
    data = bytearray(checkpoint.read_bytes())
    at = data.find(tensor.numpy().tobytes()[:64])
    assert at > 0
    data[at + 10] ^= 0xFF
    checkpoint.write_bytes(bytes(data))


# ---- section 3: a one-line error for every bad value, the same from the CLI and the Python API ----------

CONFIG_CASES = {  # flag and value: (section and field the API gets, expected message)
    ("--iterations", "0"): ("train", "iterations", 0, "iterations must be at least 1, got 0"),
    ("--iterations", "-5"): ("train", "iterations", -5, "iterations must be at least 1, got -5"),
    ("--log-every", "0"): ("train", "log_every", 0, "log_every must be at least 1"),
    ("--checkpoint-every", "0"): ("train", "checkpoint_every", 0, "checkpoint_every must be at least 1"),
    ("--sample-every", "0"): ("train", "sample_every", 0, "sample_every must be at least 1"),
    ("--keep-checkpoints", "-1"): ("train", "keep_checkpoints", -1, "keep_checkpoints must be at least 0"),
    ("--device", "banana"): ("train", "device", "banana", "device 'banana' is not valid"),
    ("--batch-size", "0"): ("train", "batch_size", 0, "batch_size must be at least 1"),
    ("--data-format", "nonsense"): ("data", "data_format", "nonsense", "data_format must be one of"),
    ("--max-objects", "0"): ("data", "max_objects", 0, "max_objects must be at least 1"),
    ("--arch", "three_stream"): ("model", "arch", "three_stream", "arch must be one of two_stream, one_stream"),
    ("--data-root", "/lists"): ("data", "data_root", "/lists", "data_root applies to VideoGAN list files"),
}


@pytest.mark.parametrize("flag, value", list(CONFIG_CASES), ids=[f"{f}={v}" for f, v in CONFIG_CASES])
def test_bad_config_value_is_one_line_error_same_as_api(flag, value, tmp_path, capsys):
    section, field, api_value, expected = CONFIG_CASES[(flag, value)]
    line = _assert_error(["train", "--out", tmp_path / "run", "--preset", "tiny", flag, value], expected, capsys)
    assert not (tmp_path / "run").exists()  # refused before the run folder was made
    section_cls = {"train": TrainConfig, "data": DataConfig}.get(section)
    with pytest.raises(ConfigError) as api:
        if section_cls is None:
            RunConfig.from_dict({section: {field: api_value}})
        else:
            section_cls(**{field: api_value})
    assert line.endswith(str(api.value))


@pytest.mark.parametrize("command", ["train", "sample"])
@pytest.mark.parametrize("where", ["a file", "below a file", "unwritable"])
def test_out_at_or_below_a_file_or_unwritable(command, where, trained, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("the user's file")
    out, expected = {"a file": (afile, "is a file, not a folder"), "below a file": (afile / "x", "which is a file"),
                     "unwritable": (UNWRITABLE, "cannot be written")}[where]
    args = ["train", "--out", out, *TINY] if command == "train" else ["sample", trained, "--out", out]
    _assert_error(args, expected, capsys)
    assert afile.read_text() == "the user's file"


@pytest.mark.parametrize("args, expected", [
    (["evaluate", "{run}", "--n", "4", "--out", UNWRITABLE + ".json"], "cannot be written"),
    (["evaluate", "{run}", "--n", "4", "--metrics", "fvd", "--cache-dir", UNWRITABLE],
     "FVD statistics cache (or use --no-cache)"),
    (["fvd", "synthetic", "synthetic:2", "--n", "4", "--out", UNWRITABLE + ".json"], "cannot be written"),
    (["recognize", "probe", "--init", "{run}", "--out", UNWRITABLE], "cannot be written"),
    (["evaluate", "{run}", "--n", "0", "--metrics", "fvd"], "--n 0: give at least 2 videos"),
    (["fvd", "synthetic", "synthetic:2", "--n", "1"], "--n 1: FVD fits a Gaussian"),
    (["sample", "{run}", "--n", "0", "--out", "{tmp}/s"], "--n 0: give at least 1 video"),
    (["sample", "{run}", "--n", "-3", "--out", "{tmp}/s"], "--n -3: give at least 1 video"),
    (["sample", "{run}", "--n", "1", "--interpolate", "--out", "{tmp}/s"], "give at least 2 videos"),
    (["sample", "{run}", "--fps", "0", "--out", "{tmp}/s"], "--fps 0.0: frames per second must be between 1 and 1000"),
    (["sample", "{run}", "--device", "banana", "--out", "{tmp}/s"], "--device 'banana': expected auto, cpu"),
    (["fvd", "synthetic", "synthetic:2", "--n", "4", "--device", "banana"], "--device 'banana': expected auto"),
    (["fvd", "synthetic", "synthetic:2", "--n", "4", "--batch-size", "0"], "--batch-size 0: give at least 1"),
    (["evaluate", "{run}", "--n", "4", "--batch-size", "0"], "--batch-size 0: give at least 1"),
    (["weights", "i3d", "--cache-dir", "{run}/config.json"], "--cache-dir lies below"),
], ids=["evaluate-out", "evaluate-cache", "fvd-out", "recognize-out", "evaluate-n0", "fvd-n1", "sample-n0",
        "sample-n-3", "interpolate-n1", "sample-fps0", "sample-device", "fvd-device", "fvd-batch0", "evaluate-batch0",
        "weights-cache-below-file"])
def test_bad_output_or_count_fails_before_work(args, expected, trained, tmp_path, capsys, monkeypatch):
    def no_work(*a, **k):
        raise AssertionError("embedding started before the error")

    monkeypatch.setattr("videogan.eval.fvd.embed_videos", no_work)
    monkeypatch.setattr("videogan.eval.metrics.embed_videos", no_work)
    filled = [a.format(run=trained, tmp=tmp_path) for a in args]
    _assert_error(filled, expected, capsys)


# ---- section 2: checkpoints, caches, temporaries, logs ---------------------------------------------------

def test_damaged_newest_checkpoint_sample_falls_back(run, tmp_path, capsys):
    newest = list_checkpoints(run)[-1]
    _flip_tensor_byte(newest)
    code, out, err = _videogan(["sample", run, "--n", "2", "--out", tmp_path / "s"], capsys)
    assert code == 0 and "damaged" in err and newest.name in err and "checkpoint-0000002.pt instead" in err
    assert newest.exists()  # sample only reads: the file stays for inspection


def test_damaged_checkpoint_named_is_one_line_error(run, tmp_path, capsys):
    newest = list_checkpoints(run)[-1]
    _flip_tensor_byte(newest)
    _assert_error(["sample", newest, "--out", tmp_path / "s"], "does not match the sha256 stored in it", capsys)


def test_truncated_checkpoint_is_one_line_error(run, tmp_path, capsys):
    newest = list_checkpoints(run)[-1]
    newest.write_bytes(newest.read_bytes()[:1000])
    _assert_error(["sample", newest, "--out", tmp_path / "s"], "not a readable videogan checkpoint", capsys)


def test_checkpoint_without_hash_still_loads(run, tmp_path, capsys):
    """Checkpoints written before the hash existed load as they are."""
    newest = list_checkpoints(run)[-1]
    state = torch.load(newest, weights_only=True)
    del state["content_sha256"]
    torch.save(state, newest)
    code, _, err = _videogan(["sample", newest, "--n", "2", "--out", tmp_path / "s"], capsys)
    assert code == 0 and err == ""


def test_resume_sets_damaged_newest_aside_and_continues(run, capsys):
    newest = list_checkpoints(run)[-1]
    _flip_tensor_byte(newest)
    code, _, err = _videogan(["train", "--resume", run, "--iterations", "6", "--no-progress"], capsys)
    assert code == 0 and "moved to checkpoint-0000004.pt.damaged" in err
    assert newest.with_name(newest.name + ".damaged").exists()
    assert [p.name for p in list_checkpoints(run)] == ["checkpoint-0000002.pt", "checkpoint-0000004.pt",
                                                       "checkpoint-0000006.pt"]


def test_every_checkpoint_damaged_is_one_line_error(run, tmp_path, capsys):
    for path in list_checkpoints(run):
        path.write_bytes(b"")
    _assert_error(["sample", run, "--out", tmp_path / "s"], "none of its 2 checkpoints loads", capsys)


def test_stale_temporaries_removed_on_resume(run, capsys):
    stale = run / "checkpoints" / ".checkpoint-0000006.pt.tmp999999999"
    stale.write_bytes(b"\0" * 4096)
    code, _, err = _videogan(["train", "--resume", run, "--iterations", "5", "--no-progress"], capsys)
    assert code == 0 and not stale.exists() and "removed 1 unfinished write" in err


def test_torn_stats_line_dropped_and_time_cumulative(run, capsys):
    stats = run / "stats.jsonl"
    before = [json.loads(line) for line in stats.read_text().splitlines()]
    with open(stats, "a") as f:
        f.write('{"iteration": 5, "time": 12.')  # a torn write: no closing brace, no newline
    code, _, err = _videogan(["train", "--resume", run, "--iterations", "8", "--no-progress"], capsys)
    assert code == 0 and f"{stats}:{len(before) + 1}: not a whole record" in err
    records = [json.loads(line) for line in stats.read_text().splitlines()]
    assert [r["iteration"] for r in records] == [r["iteration"] for r in before] + [5, 8]  # the run's log_every 5
    times = [r["time"] for r in records]
    assert times == sorted(times) and times[len(before)] >= before[-1]["time"]  # counts on across the resume


def test_resume_with_unwritable_subfolder_fails_before_training(run, capsys):
    shutil.rmtree(run / "samples", ignore_errors=True)
    (run / "samples").write_text("not a folder")
    _assert_error(["train", "--resume", run, "--iterations", "6", "--no-progress"], "is a file, not a folder", capsys)
    assert len(list_checkpoints(run)) == 2


@pytest.mark.parametrize("damage, expected", [
    ("shifted mean", "differ from the sha256"),
    ("nan", "NaN or infinite"),
    ("truncated", "unreadable FVD statistics"),
    ("zero bytes", "unreadable FVD statistics"),
    ("wrong shape", "expected (400,) and (400, 400)"),
    ("no hash", "unreadable FVD statistics"),  # written before the hash: recomputed once
])
def test_bad_fvd_cache_is_named_and_recomputed(damage, expected, tmp_path, capsys):
    rng = np.random.default_rng(0)
    good = (rng.standard_normal(400), np.eye(400))
    described = {"kind": "test", "damage": damage}
    evaluate_module.store_stats(described, 16, tmp_path, good)  # writes the cache
    path = evaluate_module.stats_path(described, 16, tmp_path)
    with np.load(path) as saved:
        mu, sigma, digest = saved["mu"], saved["sigma"], saved["sha256"]
    if damage == "shifted mean":
        np.savez(path, mu=mu + 1, sigma=sigma, sha256=digest)
    elif damage == "nan":
        mu[3] = np.nan
        np.savez(path, mu=mu, sigma=sigma, sha256=evaluate_module._stats_sha256(mu, sigma))
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:500])
    elif damage == "zero bytes":
        path.write_bytes(b"")
    elif damage == "wrong shape":
        np.savez(path, mu=mu[:10], sigma=sigma[:10, :10], sha256=evaluate_module._stats_sha256(mu[:10], sigma[:10, :10]))
    else:
        np.savez(path, mu=mu, sigma=sigma)
    with pytest.raises(ValueError, match=str(path)) as err:
        evaluate_module.read_cached_stats(path)
    assert expected in str(err.value)
    capsys.readouterr()
    assert evaluate_module.cached_stats(described, 16, tmp_path) is None  # evaluate computes them again
    assert "computing them again" in capsys.readouterr().err and str(path) in str(err.value)
    evaluate_module.store_stats(described, 16, tmp_path, good)
    np.testing.assert_array_equal(evaluate_module.read_cached_stats(path)[0], good[0])  # rewritten whole


# ---- sections 5 and 6: what a new user tripped over -------------------------------------------------------

def test_fvd_empty_folder_is_named_empty(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    _assert_error(["fvd", tmp_path / "empty", "synthetic", "--n", "4"], "the folder is empty", capsys)


def test_fvd_folder_without_videos_says_so(tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no videos here")
    _assert_error(["fvd", tmp_path / "notes", "synthetic", "--n", "4"], "no video files (.mp4", capsys)


def test_fvd_one_video_fails_before_embedding(trained, tmp_path, capsys, monkeypatch):
    assert main(["sample", str(trained), "--n", "1", "--each", "--out", str(tmp_path / "one")]) == 0
    monkeypatch.setattr("videogan.eval.fvd.embed_videos", lambda *a, **k: pytest.fail("embedding started"))
    _assert_error(["fvd", tmp_path / "one" / "videos", tmp_path / "one" / "videos"], "holds 1 video", capsys)


def test_sample_each_counts_every_file(trained, tmp_path, capsys):
    code, out, _ = _videogan(["sample", trained, "--n", "3", "--each", "--out", tmp_path / "s"], capsys)
    files = [p for p in (tmp_path / "s").rglob("*") if p.is_file()]
    # 4 streams x (GIF + MP4), the background and the contact sheet, and one MP4 per video
    assert code == 0 and f"wrote {len(files)} files" in out and len(files) == 10 + 3


def test_resume_with_nothing_left_says_how_to_train_longer(run, capsys):
    code, _, err = _videogan(["train", "--resume", run, "--no-progress"], capsys)
    assert code == 0 and "to train longer" in err and "--iterations 8" in err  # the run's log line


def test_failed_start_leaves_no_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    _assert_error(["train", "--out", out, *TINY, "--data", tmp_path / "missing"], "missing", capsys)
    assert not out.exists()
    assert main(["train", "--out", str(out), *TINY, "--iterations", "2"]) == 0  # the retry is not blocked


def test_default_preset_on_prepared_clips_says_it_crops(tmp_path):
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "prepare.json").write_text(json.dumps({"frames": 32, "size": 64}))
    config = RunConfig(get_preset("cpu").model, get_preset("cpu").train, DataConfig(data=str(prepared)))
    no_flags = build_parser("train").parse_args(["train", "--data", str(prepared)])
    note = clip_size_note(config, no_flags)
    assert "32 frames of 64x64" in note and "16 frames of 32x32" in note and "--preset paper" in note
    assert clip_size_note(config, build_parser("train").parse_args(["train", "--preset", "cpu"])) is None


def test_help_and_command_errors_import_no_torch():
    """The command list and a mistyped command come without importing torch (it takes seconds)."""
    code = ("import sys, contextlib, io\n"
            "from videogan.cli import main\n"
            "for argv in (['--help'], ['bogus']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "        try: main(argv)\n"
            "        except SystemExit: pass\n"
            "print(sorted(m for m in ('torch', 'numpy', 'av', 'cv2') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


def test_command_table_matches_the_modules():
    """The static command list shows the help each module registers."""
    listed = {a.dest: a.help for a in build_parser(None)._subparsers._group_actions[0]._choices_actions}
    registered = {a.dest: a.help for a in build_parser("all")._subparsers._group_actions[0]._choices_actions}
    assert listed == registered == {name: help for name, (_, help) in COMMANDS.items()}


def test_config_flags_have_help_and_choices():
    text = build_parser("train")._subparsers._group_actions[0].choices["train"].format_help()
    for shown in ("--arch {two_stream,one_stream}", "--task {video,future}", "--first-frame-loss {l1,l2}",
                  "--data-format {auto,shards,videogan,videos}", "(>= 1)"):
        assert shown in " ".join(text.split()), shown
    flags = [a for a in build_parser("train")._subparsers._group_actions[0].choices["train"]._actions
             if a.dest.count(".") == 1]
    assert flags and all(a.help for a in flags)
    describe = build_parser("describe")._subparsers._group_actions[0].choices["describe"].format_help()
    assert "--frames" in describe and "--iterations" not in describe and "--data" not in describe
