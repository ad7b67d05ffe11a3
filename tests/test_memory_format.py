"""channels_last_3d: the CPU default where it measured faster, and the same training as the contiguous
layout to float32 rounding in every preset."""
import json

import pytest
import torch

from videogan.cli import main
from videogan.config import PRESETS, ConfigError, RunConfig, get_preset, replace
from videogan.data import build_dataset
from videogan.runtime import Runtime
from videogan.train.gan import GANTask, train
from videogan.train.training_loop import StepContext, clips_on_device, resolve_channels_last

CPU = torch.device("cpu")


def _at_tiny_sizes(name: str, channels_last: str) -> RunConfig:
    """The preset's recipe (task, D's normalisation, R1, the average, optimiser) on the tiny preset's clips
    and widths, so that every preset's step runs in a test."""
    tiny = get_preset("tiny").model
    sizes = {"frames": tiny.frames, "size": tiny.size, "z_dim": tiny.z_dim, "g_width": tiny.g_width,
             "d_width": tiny.d_width}
    return replace(get_preset(name), model=sizes, train={"batch_size": 4, "device": "cpu",
                                                         "channels_last": channels_last})


def _one_step(config: RunConfig) -> tuple[dict, dict, dict]:
    """One training step on a fixed uint8 batch, as the loop feeds it: its statistics, then the shapes of
    G's and D's weights and G's outputs on the next iteration's inputs."""
    runtime = Runtime(CPU)
    dataset = build_dataset(config.data, config.model)
    task = GANTask(config, runtime, dataset)
    batch = torch.stack([dataset[i]["video"] for i in range(4)]).add(1).mul(127.5).round().to(torch.uint8)
    real = clips_on_device(batch, CPU, resolve_channels_last(config.train.channels_last, CPU))
    stats = {k: float(v) for k, v in task.step(real, 0, StepContext(runtime, "fp32")).items()}
    weights = {f"{name}.{k}": v.shape for name, net in task.networks.items() for k, v in net.state_dict().items()}
    with torch.no_grad():
        outputs = task.generator(*task.inputs(real, 1), parts=True)
    return stats, weights, {k: v.shape for k, v in outputs.items()}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_one_step_of_every_preset_is_the_same_in_both_memory_formats(name):
    contiguous, channels_last = _one_step(_at_tiny_sizes(name, "off")), _one_step(_at_tiny_sizes(name, "on"))
    assert channels_last[1:] == contiguous[1:]  # the same weights' and outputs' shapes
    assert channels_last[0].keys() == contiguous[0].keys()
    for key, value in contiguous[0].items():  # only the summation order differs
        assert channels_last[0][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


def test_auto_is_channels_last_on_the_cpu_only():
    assert resolve_channels_last("auto", CPU) and resolve_channels_last("on", torch.device("cuda"))
    assert not resolve_channels_last("auto", torch.device("cuda")) and not resolve_channels_last("off", CPU)


def test_true_and_false_of_configs_saved_before_auto_read_as_on_and_off():
    saved = get_preset("tiny").to_dict()
    for old, new in ((True, "on"), (False, "off")):
        saved["train"]["channels_last"] = old
        assert RunConfig.from_dict(saved).train.channels_last == new
    with pytest.raises(ConfigError, match="channels_last must be one of auto, on, off"):
        replace(get_preset("tiny"), train={"channels_last": "yes"})


def test_resumed_channels_last_run_logs_the_same_losses_as_an_uninterrupted_run(tmp_path, tiny_config):
    config = replace(tiny_config, train={"channels_last": "on"})
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(config, whole, progress=False)
    train(replace(config, train={"iterations": 3}), parts, progress=False)
    train(config, parts, resume=True, progress=False)
    stats = [[json.loads(line) for line in open(run / "stats.jsonl")] for run in (whole, parts)]
    assert [r["iteration"] for r in stats[1]] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(*stats):
        assert {k: a[k] for k in ("loss_d", "loss_g", "d_real", "d_fake")} == \
            pytest.approx({k: b[k] for k in ("loss_d", "loss_g", "d_real", "d_fake")}, rel=1e-5, abs=1e-6)


def test_the_flag_takes_auto_on_off_and_the_log_names_the_format(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--iterations", "1", "--channels-last", "on", "--device", "cpu",
                 "--out", str(run), "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["channels_last"] == "on"
    assert "; channels_last_3d memory format;" in capsys.readouterr().err
    assert main(["train", "--preset", "tiny", "--channels-last", "yes", "--out", str(tmp_path / "bad")]) == 2
    assert "channels_last must be one of auto, on, off" in capsys.readouterr().err
