"""TensorBoard logging (train/tensorboard.py through RunLog): on when the package is installed, silent
on ranks > 0, and runs without it work as before."""
from __future__ import annotations

import importlib.util

import pytest

from videogan.config import replace
from videogan.train import tensorboard as tensorboard_module
from videogan.train.gan import train
from videogan.train.log import RunLog


def _events(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def test_scalars_and_sample_images_go_to_run_tb_and_a_resume_does_not_repeat_steps(tmp_path, tiny_config):
    if importlib.util.find_spec("tensorboard") is None:
        pytest.fail("tensorboard is not installed: pip install -e '.[dev]'")
    run = tmp_path / "run"
    train(replace(tiny_config, train={"iterations": 4, "sample_every": 2}), run, progress=False)
    train(replace(tiny_config, train={"iterations": 6, "sample_every": 2}), run, resume=True, progress=False)
    events = _events(run)
    assert {"train/loss_d", "train/d_real", "train/d_fake", "train/mask_mean", "train/videos_per_s"} <= set(
        events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("train/loss_d")] == [1, 2, 3, 4, 5, 6]
    assert {"samples/video", "samples/foreground", "samples/mask", "samples/background"} <= set(events.Tags()["images"])
    images = events.Images("samples/video")
    assert [e.step for e in images] == [2, 4, 6] and images[0].width > 16


def test_no_tensorboard_package_and_other_ranks_write_nothing(tmp_path, tiny_config, monkeypatch):
    assert RunLog(tmp_path, enabled=False).tensorboard is None
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(tensorboard_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real_find_spec(name, *a))
    train(tiny_config, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "stats.jsonl").exists() and not (tmp_path / "run" / "tb").exists()
    monkeypatch.undo()
    monkeypatch.setenv("VIDEOGAN_TENSORBOARD", "0")
    assert RunLog(tmp_path / "off").tensorboard is None


def test_an_evaluation_of_a_run_goes_to_its_tensorboard_log_beside_the_training_curves(tmp_path, tiny_config):
    from videogan.cli import main
    from videogan.cli.evaluate import send_to_tensorboard

    run = tmp_path / "run"
    train(tiny_config, run, progress=False)
    assert main(["evaluate", str(run), "--n", "4", "--metrics", "flicker,colour", "--device", "cpu"]) == 0
    # FVD never comes from so short a clip here: the same path with a result that holds it
    result = {"checkpoint": str(run / "checkpoints" / "checkpoint-0000004.pt"), "iteration": 4, "fvd": 512.5,
              "fvd_real_floor": float("nan"), "flicker": "text"}
    send_to_tensorboard(run / "eval-fvd-4.json", result)
    # written elsewhere, an evaluation is not the run's: its log is left alone
    send_to_tensorboard(tmp_path / "eval-6.json", {**result, "iteration": 6})
    events = _events(run)
    assert {"eval/flicker", "eval/flicker_real", "eval/colour_w1", "eval/fvd"} <= set(events.Tags()["scalars"])
    assert "eval/fvd_real_floor" not in events.Tags()["scalars"]  # not measured: nothing plotted
    assert [e.step for e in events.Scalars("eval/flicker")] == [6]
    assert [(e.step, e.value) for e in events.Scalars("eval/fvd")] == [(4, 512.5)]
    assert [e.step for e in events.Scalars("train/loss_d")] == [1, 2, 3, 4, 5, 6]
