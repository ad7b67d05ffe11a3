import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from videos import read_video

from videogan.cli import main

ROOT = Path(__file__).resolve().parents[1]

TINY = ["--preset", "tiny", "--iterations", "4", "--checkpoint-every", "2", "--sample-every", "2",
        "--device", "cpu"]


def _gif_seconds(path):
    """GIF writers merge identical consecutive frames and add up their durations: count time."""
    with Image.open(path) as im:
        total = 0
        for i in range(im.n_frames):
            im.seek(i)
            total += im.info["duration"]
    return total / 1000


def test_train_then_sample_then_describe(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--no-progress", *TINY]) == 0
    assert (run / "config.json").exists() and (run / "samples" / "0000004_videos.gif").exists()
    assert json.loads((run / "config.json").read_text())["model"]["frames"] == 8
    out = tmp_path / "samples"
    assert main(["sample", str(run), "--n", "4", "--seed", "1", "--out", str(out), "--each"]) == 0
    for name in ("videos", "foreground", "mask", "foreground_masked"):
        assert len(read_video(out / f"{name}.mp4")) == 8 and _gif_seconds(out / f"{name}.gif") == pytest.approx(1.0, abs=0.01 * 8)
    assert (out / "background.png").exists() and (out / "sheet.png").exists()
    assert len(list((out / "videos").glob("*.mp4"))) == 4
    assert main(["sample", str(run), "--n", "5", "--interpolate", "--out", str(out)]) == 0
    assert len(read_video(out / "interpolation_videos.mp4")) == 8
    capsys.readouterr()
    assert main(["describe", "--preset", "paper", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["generator"]["params"] == 16_243_463


def test_make_demo_trains_the_demo_preset_and_samples_from_the_average(tmp_path):
    """What `make demo` runs, shortened to 2 iterations: the preset trains, keeps the average, samples 8 frames."""
    makefile = (ROOT / "Makefile").read_text()
    assert "videogan train --preset demo --out runs/demo" in makefile
    run = tmp_path / "demo"
    assert main(["train", "--preset", "demo", "--iterations", "2", "--device", "cpu", "--no-progress",
                 "--out", str(run)]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"]["frames"] == 8 and saved["train"]["ema_half_life"] == 2000.0
    # the demo's optimisation (docs/notebook.md 7): D without BatchNorm under the R1 penalty
    assert saved["model"]["d_norm"] == "none" and saved["train"]["r1_gamma"] == 1.0
    assert json.loads((run / "stats.jsonl").read_text().splitlines()[-1])["r1"] > 0
    state = torch.load(run / "checkpoints" / "checkpoint-0000002.pt", weights_only=True)
    assert "generator_ema" in state
    assert main(["sample", str(run), "--n", "16", "--seed", "0", "--out", str(run / "samples-final")]) == 0
    assert len(read_video(run / "samples-final" / "videos.mp4")) == 8


def test_resume_continues_and_a_second_new_run_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--no-progress", *TINY]) == 0
    assert main(["train", "--out", str(run), "--no-progress", *TINY]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--iterations", "6", "--no-progress"]) == 0
    assert (run / "checkpoints" / "checkpoint-0000006.pt").exists()


def test_resume_applies_run_time_flags_and_refuses_recipe_flags(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--no-progress", *TINY, "--iterations", "2"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--lr", "0.001", "--z-dim", "8", "--iterations", "4"]) == 2
    err = capsys.readouterr().err
    assert "drop --z-dim 8 (run: 16), --lr 0.001 (run: 0.0002)" in err and len(err.strip().splitlines()) == 1
    assert not (run / "checkpoints" / "checkpoint-0000004.pt").exists()
    assert main(["train", "--resume", str(run), "--iterations", "4", "--checkpoint-every", "1", "--log-every", "1",
                 "--precision", "bf16", "--no-progress"]) == 0
    assert (run / "checkpoints" / "checkpoint-0000003.pt").exists()  # the new interval applies
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["precision"] == "bf16" and saved["train"]["lr"] == 0.0002


def test_a_hand_edited_config_json_is_named_on_resume_not_applied_silently(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--no-progress", *TINY, "--iterations", "2"]) == 0
    saved = json.loads((run / "config.json").read_text())
    saved["train"]["lr"], saved["model"]["z_dim"], saved["train"]["iterations"] = 0.001, 8, 99
    (run / "config.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--iterations", "4", "--no-progress"]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "was edited" in line]
    # the recipe's edits are named; iterations, a run-time setting, comes from the command line
    assert len(warning) == 1 and "z_dim (file: 8, run: 16)" in warning[0] and "lr (file: 0.001" in warning[0]
    assert "iterations" not in warning[0]
    rewritten = json.loads((run / "config.json").read_text())
    assert rewritten["train"]["lr"] == 0.0002 and rewritten["model"]["z_dim"] == 16
    assert main(["train", "--resume", str(run), "--iterations", "5", "--no-progress"]) == 0
    assert "was edited" not in capsys.readouterr().err


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                           max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(saved=JSON_VALUES | st.dictionaries(st.sampled_from(["cpu_threads", "cpu_kernels", "torch", "device", "x"]),
                                           JSON_VALUES, max_size=5))
def test_any_machine_record_in_config_json_gives_printable_differences(tmp_path, saved):
    """A hand-edited or foreign `machine` (any JSON, control characters included) never stops a resume: its
    differences are named on one printable line each, and a record that is not an object is none."""
    from videogan.train.run_dir import changed_machine
    (tmp_path / "config.json").write_text(json.dumps({"machine": saved}))
    machine = {"cpu_threads": 2, "cpu_kernels": "AVX2", "torch": "2.13.0", "device": "cpu"}
    differences = changed_machine(tmp_path, machine)
    assert all(isinstance(d, str) and d.isprintable() for d in differences)
    expected = [k for k in machine if isinstance(saved, dict) and k in saved and saved[k] != machine[k]]
    assert [d.split(" ")[0] for d in differences] == expected


def test_clear_errors(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "missing.pt"), "--out", str(tmp_path)]) == 2
    assert "missing.pt" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00" * 10)
    assert main(["sample", str(corrupt), "--out", str(tmp_path)]) == 2
    assert "corrupt.pt: not a readable videogan checkpoint" in capsys.readouterr().err
    assert main(["describe", "--size", "48"]) == 2
    assert "power of two" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "videogan.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "videogan" in result.stdout


def test_prepare_own_footage_then_train_on_it_and_on_the_raw_folder(tmp_path):
    from videos import moving_pattern, write_video

    src = tmp_path / "footage"
    for i in range(3):
        write_video(src / f"clip{i}.mp4", moving_pattern(20, 40, 56, seed=i))
    prepared = tmp_path / "prepared"
    assert main(["prepare", str(src), str(prepared), "--size", "32", "--frames", "16", "--no-stabilize"]) == 0
    for data in (prepared, src):  # shards, and the folder decoded on the fly
        run = tmp_path / f"run-{data.name}"
        args = ["train", "--out", str(run), "--no-progress", *TINY, "--iterations", "2", "--data", str(data)]
        assert main(args) == 0
        assert json.loads((run / "config.json").read_text())["data"]["data"] == str(data)
        assert (run / "checkpoints" / "checkpoint-0000002.pt").exists()


def test_train_on_an_original_videogan_list(tmp_path):
    from videos import moving_pattern, write_strip

    root = tmp_path / "data"  # the list lives apart from the frames, as the published golf.txt
    for i in range(4):
        write_strip(root / "frames-stable-many" / f"{i}.jpg", moving_pattern(8, 16, 16, seed=i))
    listing = tmp_path / "golf.txt"
    listing.write_text("".join(f"frames-stable-many/{i}.jpg\n" for i in range(4)))
    run = tmp_path / "run"
    args = ["train", "--out", str(run), "--no-progress", *TINY, "--iterations", "2", "--data", str(listing),
            "--data-format", "videogan", "--data-root", str(root)]
    assert main(args) == 0
    assert json.loads((run / "config.json").read_text())["data"]["data_root"] == str(root)
    assert (run / "checkpoints" / "checkpoint-0000002.pt").exists()


@pytest.mark.parametrize("error, code, expected", [
    (MemoryError(), 2, "describe: error: out of memory"),
    (torch.OutOfMemoryError("CUDA out of memory.\nTried to allocate 2 GiB"), 2, "out of memory"),
    (OSError(28, "No space left on device", "/full/run/stats.jsonl"), 2, "No space left on device: '/full/run"),
    (KeyboardInterrupt(), 130, "describe: interrupted"),
])
def test_expected_failures_are_one_line(monkeypatch, capsys, error, code, expected):
    import videogan.cli.describe as command

    def fail(config):
        raise error

    monkeypatch.setattr(command, "describe", fail)
    assert main(["describe", "--preset", "tiny"]) == code
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # the same patch each time; each example reads its own output
@example("unrecognized arguments: --label \r0")  # fuzzing found argparse echoing a carriage return
@example("no such file: 'clip\x1b[2J.mp4'\n  (a second line)")
@given(st.text())
def test_an_error_with_any_text_in_it_is_one_printable_line(monkeypatch, capsys, text):
    """Error lines echo the user's words (argparse's "unrecognized arguments", a file name in a message):
    whatever their characters, the error stays one line that cannot rewrite the terminal."""
    import videogan.cli.describe as command

    def fail(config):
        raise ValueError(text)

    monkeypatch.setattr(command, "describe", fail)
    for argv in (["describe", "--preset", "tiny"], ["describe", "--preset", "tiny", text]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and err.endswith("\n") and err[:-1].isprintable(), err


def test_an_unexpected_exception_keeps_its_traceback_and_asks_for_a_report(monkeypatch, capsys):
    import videogan.cli.describe as command

    def fail(config):
        raise KeyError("layer")

    monkeypatch.setattr(command, "describe", fail)
    assert main(["describe", "--preset", "tiny"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'layer'" in err
    last = err.strip().splitlines()[-1]
    assert "this is a bug" in last and "videogan describe --preset tiny" in last and "issue tracker" in last


@pytest.mark.parametrize("argv, flag", [
    (["describe", "--z-dim", "1e9"], "--z-dim: expected an integer"),
    (["describe", "--g-width", "0"], "--g-width: g_width must be at least 1, got 0"),
    (["describe", "--g-width", "9" * 30], "--g-width: " + "9" * 30 + " does not fit in 64 bits"),
    (["train", "--seed", "-1"], "--seed: seed must be at least 0, got -1"),
    (["train", "--lr", "nan"], "--lr: expected a finite number"),
    (["train", "--max-minutes", "1e400"], "--max-minutes: expected a finite number"),
    (["train", "--beta1", "1"], "--beta1: beta1 must be below 1.0, got 1.0"),
    (["sample", "run", "--out", "x", "--seed", "-3"], "--seed: seed must be at least 0, got -3"),
    (["sample", "run", "--out", "x", "--fps", "inf"], "--fps: expected a finite number"),
    (["sample", "run", "--out", "x", "--n", "1" * 25], "--n: " + "1" * 25 + " does not fit in 64 bits"),
])
def test_a_value_a_flag_cannot_hold_names_the_flag(capsys, argv, flag):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert flag in err and len(err.strip().splitlines()) == 1


def test_the_python_api_refuses_what_the_flags_refuse():
    from videogan.config import ConfigError, TrainConfig

    for value in (float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="lr must be a finite number"):
            TrainConfig(lr=value)
    with pytest.raises(ConfigError, match="seed must be a finite number that fits in 64 bits"):
        TrainConfig(seed=2 ** 64)


@pytest.mark.parametrize("preset", ["tiny", "no-such-preset"])
def test_resume_refuses_a_preset(tmp_path, capsys, preset):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--no-progress", *TINY, "--iterations", "2"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--preset", preset, "--iterations", "4"]) == 2
    err = capsys.readouterr().err
    assert f"--preset {preset}: --resume continues" in err and len(err.strip().splitlines()) == 1
    assert not (run / "checkpoints" / "checkpoint-0000004.pt").exists()


def test_a_configuration_too_large_for_memory_is_refused_before_it_allocates(tmp_path, capsys):
    assert main(["train", "--preset", "tiny", "--g-width", "1000000", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "training at batch 4 per rank needs about" in err and "--g-width" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
    assert main(["train", "--preset", "tiny", "--batch-size", "100000000", "--out", str(tmp_path / "run")]) == 2
    assert "training at batch 100000000 per rank" in capsys.readouterr().err
    assert main(["describe", "--g-width", "1000000"]) == 0  # shapes only: describes what it cannot train
    assert "training needs about" in capsys.readouterr().out.splitlines()[-1]


def test_sampling_more_videos_than_fit_at_once_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--no-progress", *TINY, "--iterations", "2"]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--n", str(10 ** 9), "--out", str(tmp_path / "samples")]) == 2
    assert "generating --n 1000000000 videos at once needs about" in capsys.readouterr().err
