import json
import math
import time

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from videogan.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from videogan.config import ConfigError, replace
from videogan.models import VideoGenerator
from videogan.runtime import Runtime
from videogan.train.gan import GANTask, init_networks, train
from videogan.train.loss import VideoGANLoss
from videogan.train.training_loop import NonFiniteLoss, StepContext, run_task


def _stats(run_dir):
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def test_one_iteration_changes_both_networks_and_keeps_losses_finite(tmp_path, tiny_config):
    config = replace(tiny_config, train={"iterations": 1, "checkpoint_every": 1})
    reference = init_networks(config.model, config.train.seed)  # the weights the run starts from
    train(config, tmp_path, progress=False)
    state = load_checkpoint(tmp_path)
    for net, key in zip(reference, ("generator", "discriminator")):
        before = net.state_dict()
        changed = [name for name, value in state[key].items()
                   if value.dtype.is_floating_point and not torch.equal(value, before[name])]
        assert any("weight" in name for name in changed), key
    record = _stats(tmp_path)[0]
    assert all(torch.isfinite(torch.tensor(record[k])) for k in ("loss_d", "loss_g", "mask_mean"))


def test_mask_prior_is_added_to_the_generator_loss():
    d = torch.nn.Module()
    d.forward = lambda video: torch.zeros(video.shape[0])  # D(x) = 0.5 everywhere
    loss = VideoGANLoss(d, mask_l1=0.1)
    parts = {"video": torch.zeros(2, 3, 2, 2, 2), "mask": torch.full((2, 1, 2, 2, 2), 0.5)}
    value, stats = loss.generator_loss(parts)
    assert value.item() == pytest.approx(torch.log(torch.tensor(2.0)).item() + 0.1 * 0.5, rel=1e-5)
    assert stats["mask_mean"].item() == pytest.approx(0.5)


def test_checkpoint_round_trip_with_optimizer_state(tmp_path, tiny_config):
    train(replace(tiny_config, train={"iterations": 2}), tmp_path, progress=False)
    path = list_checkpoints(tmp_path)[-1]
    state = torch.load(path, weights_only=True)  # plain data: no code runs on load
    assert state["iteration"] == 2 and state["config"]["model"]["size"] == 16
    assert state["opt_g"]["state"] and state["opt_d"]["state"]  # Adam moments were saved
    assert set(state["rng"]) == {"global"} and set(state["rng"]["global"]) >= {"torch", "numpy", "python"}
    g = VideoGenerator(tiny_config.model)
    g.load_state_dict(state["generator"])
    opt = torch.optim.Adam(g.parameters())
    opt.load_state_dict(state["opt_g"])
    copy = tmp_path / "copy.pt"
    save_checkpoint(copy, {k: v for k, v in state.items() if k != "format_version"})
    again = load_checkpoint(copy)
    assert all(torch.equal(again["generator"][k], v) for k, v in state["generator"].items())


@pytest.mark.parametrize("draws", [{}, {"augment": "color,translation,cutout"}, {"mirror": True}])
def test_resumed_run_logs_the_same_losses_as_an_uninterrupted_run(tmp_path, tiny_config, draws):
    """Also with augmentation or mirrored clips: their draws are a function of (seed, rank, iteration), like
    the codes."""
    tiny_config = replace(tiny_config, train=draws)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(tiny_config, whole, progress=False)
    train(replace(tiny_config, train={"iterations": 3}), parts, progress=False)
    train(tiny_config, parts, resume=True, progress=False)
    a, b = _stats(whole), _stats(parts)
    assert [r["iteration"] for r in b] == [1, 2, 3, 4, 5, 6]
    for ra, rb in zip(a, b):
        for key in ("loss_d", "loss_g", "d_real", "d_fake", "mask_mean"):
            # equal up to rounding: CPU kernels may round differently from call to call; a resume that
            # lost a random state or a counter changes them by far more
            assert ra[key] == pytest.approx(rb[key], rel=1e-5, abs=1e-6), (ra["iteration"], key)


def test_mirror_changes_what_d_sees_of_the_real_clips(tmp_path, tiny_config):
    tiny_config = replace(tiny_config, train={"iterations": 1})
    train(tiny_config, tmp_path / "plain", progress=False)
    train(replace(tiny_config, train={"mirror": True}), tmp_path / "mirrored", progress=False)
    plain, mirrored = _stats(tmp_path / "plain")[0], _stats(tmp_path / "mirrored")[0]
    assert plain["d_real"] != mirrored["d_real"] and plain["d_fake"] == pytest.approx(mirrored["d_fake"])


def test_the_run_records_its_threads_and_kernels_and_a_resume_with_others_says_so(tmp_path, tiny_config, capsys):
    """The thread count and instruction set decide the order of float sums, so a run's numbers hang on them:
    config.json names them, and a resume under another count says it goes on, but not bit for bit."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        train(replace(tiny_config, train={"iterations": 2}), tmp_path, progress=False)
        machine = json.loads((tmp_path / "config.json").read_text())["machine"]
        assert machine["cpu_threads"] == 1 and machine["cpu_kernels"] == torch.backends.cpu.get_cpu_capability()
        assert "1 CPU thread(s)" in capsys.readouterr().err
        train(replace(tiny_config, train={"iterations": 3}), tmp_path, resume=True, progress=False)
        assert "another machine setup" not in capsys.readouterr().err  # the same setup: bit for bit
        torch.set_num_threads(2)
        train(replace(tiny_config, train={"iterations": 4}), tmp_path, resume=True, progress=False)
        assert "another machine setup than the run so far (cpu_threads 1 -> 2)" in capsys.readouterr().err
        assert json.loads((tmp_path / "config.json").read_text())["machine"]["cpu_threads"] == 2
    finally:
        torch.set_num_threads(threads)


def test_periodic_checkpoints_are_pruned(tmp_path, tiny_config):
    train(replace(tiny_config, train={"keep_checkpoints": 2}), tmp_path, progress=False)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-0000004.pt", "checkpoint-0000006.pt"]


def test_missing_and_corrupt_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoints"):
        load_checkpoint(tmp_path)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt: not a readable videogan checkpoint"):
        load_checkpoint(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match="not a videogan checkpoint"):
        load_checkpoint(foreign)


def test_a_non_finite_loss_stops_the_run_without_saving(tmp_path, tiny_config):
    class Diverging(GANTask):
        def step(self, real, iteration, context):
            stats = super().step(real, iteration, context)
            return {**stats, "loss_d": stats["loss_d"] * float("nan")} if iteration == 2 else stats

    with pytest.raises(NonFiniteLoss, match="iteration 3: losses are not finite"):
        run_task(Diverging, tiny_config, tmp_path, progress=False)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-0000002.pt"]  # the last good state


def test_bf16_with_channels_last_trains_with_float32_weights_and_finite_losses(tmp_path, tiny_config):
    config = replace(tiny_config, train={"iterations": 2, "precision": "bf16", "channels_last": True})
    state = load_checkpoint(train(config, tmp_path, progress=False))
    assert all(v.dtype in (torch.float32, torch.int64) for v in state["generator"].values())
    assert state["opt_d"]["state"][0]["exp_avg"].dtype == torch.float32
    assert all(math.isfinite(r[k]) for r in _stats(tmp_path) for k in ("loss_d", "loss_g", "mask_mean"))


def test_a_slow_loader_is_logged_per_tick_and_warned_about(tmp_path, tiny_config, monkeypatch, capsys):
    from videogan.data import MovingObjects
    from videogan.train import training_loop

    class Slow(MovingObjects):
        def __getitem__(self, index):
            time.sleep(0.25)
            return super().__getitem__(index)

    monkeypatch.setattr(training_loop, "build_dataset", lambda data, model: Slow(model.frames, model.size))
    train(replace(tiny_config, train={"iterations": 3}), tmp_path, progress=False)
    assert all(r["data_wait_s"] >= 1.0 for r in _stats(tmp_path))  # 4 clips of 0.25 s per iteration
    assert "the loader is the bottleneck" in capsys.readouterr().err


@settings(max_examples=30, deadline=None)
@given(batch=st.integers(2, 9), weight=st.floats(0.01, 10.0), seed=st.integers(0, 2 ** 16))
def test_mode_seeking_term_is_the_weight_over_the_code_to_video_gap(batch, weight, seed):
    """Any batch size (odd ones leave their last video unpaired): G's loss grows by weight / (gap + eps), the gap
    is mean |G(z1) - G(z2)| / mean |z1 - z2| over the pairs (i, i + b//2), and pushing it down pulls videos apart."""
    rng = torch.Generator().manual_seed(seed)
    d = torch.nn.Module()
    d.forward = lambda video: torch.zeros(video.shape[0])
    codes = torch.randn(batch, 5, generator=rng)
    video = torch.randn(batch, 3, 2, 2, 2, generator=rng).requires_grad_(True)
    half = batch // 2
    gap = (video[:half] - video[half:2 * half]).abs().mean() / (codes[:half] - codes[half:2 * half]).abs().mean()
    plain, _ = VideoGANLoss(d).generator_loss({"video": video}, codes=codes)
    seeking, stats = VideoGANLoss(d, mode_seeking=weight).generator_loss({"video": video}, codes=codes)
    assert stats["mode_seeking_gap"].item() == pytest.approx(gap.item(), rel=1e-5)
    assert (seeking - plain).item() == pytest.approx(weight / (gap.item() + 1e-5), rel=1e-4)
    grad, = torch.autograd.grad(seeking, video)
    after = (video - 1e-3 * grad).detach()
    assert (after[:half] - after[half:2 * half]).abs().mean() > (video[:half] - video[half:2 * half]).abs().mean()
    assert "mode_seeking_gap" not in VideoGANLoss(d, mode_seeking=weight).generator_loss({"video": video})[1]


def test_mode_seeking_needs_a_pair(tiny_config):
    with pytest.raises(ConfigError, match="batch_size 2 or more"):
        replace(tiny_config, train={"mode_seeking": 1.0, "batch_size": 1})
    d = torch.nn.Module()
    d.forward = lambda video: torch.zeros(video.shape[0])
    with pytest.raises(ValueError, match="batch of 2 or more"):
        VideoGANLoss(d, mode_seeking=1.0).generator_loss({"video": torch.zeros(1, 3, 2, 2, 2)}, codes=torch.zeros(1, 5))


def test_r1_penalty_is_the_squared_gradient_norm_at_real_clips():
    """gamma/2 E|grad_x D(x)|^2 over real clips (Mescheder et al. 2018), on a D whose gradient is known:
    D(x) = <w, x> has gradient w at every x, so the penalty is |w|^2 whatever the clips."""
    weight = torch.randn(3, 2, 4, 4)
    d = torch.nn.Module()
    d.forward = lambda video: (video * weight).flatten(1).sum(1)
    real, fake = torch.randn(5, 3, 2, 4, 4), torch.randn(5, 3, 2, 4, 4)
    plain, _ = VideoGANLoss(d).discriminator_loss(real, fake)
    regularised, stats = VideoGANLoss(d, r1_gamma=0.5).discriminator_loss(real, fake)
    assert stats["r1"].item() == pytest.approx(weight.square().sum().item(), rel=1e-5)
    assert (regularised - plain).item() == pytest.approx(0.25 * weight.square().sum().item(), rel=1e-5)
    assert not real.requires_grad  # the caller's batch is left alone
    lazy = VideoGANLoss(d, r1_gamma=0.5, r1_every=4)  # every 4th iteration, 4 times the weight
    assert "r1" not in lazy.discriminator_loss(real, fake, iteration=3)[1]
    assert (lazy.discriminator_loss(real, fake, iteration=8)[0] - plain).item() == pytest.approx(
        (regularised - plain).item() * 4, rel=1e-5)


def test_lazy_r1_runs_every_r1_every_steps_and_its_statistic_averages_over_those(tmp_path, tiny_config):
    config = replace(tiny_config, model={"d_norm": "none"},
                     train={"iterations": 4, "log_every": 4, "r1_gamma": 1.0, "r1_every": 2})
    runtime = Runtime(torch.device("cpu"))
    task = GANTask(config, runtime, dataset=None)
    trainer = StepContext(runtime, "fp32")
    real = torch.rand(4, 3, 8, 16, 16) * 2 - 1
    assert ["r1" in task.step(real, it, trainer) for it in range(4)] == [True, False, True, False]
    train(config, tmp_path, progress=False)
    record = _stats(tmp_path)[-1]
    assert record["r1"] > 0 and math.isfinite(record["loss_d"])


def test_r1_step_runs_under_torch_flop_counter(tiny_config):
    """benchmarks/train_speed.py counts a step's FLOPs with FlopCounterMode, whose module hooks made
    autograd.grad refuse the real batch when D saw the leaf itself."""
    from torch.utils.flop_counter import FlopCounterMode

    config = replace(tiny_config, model={"d_norm": "none"}, train={"r1_gamma": 1.0})
    task = GANTask(config, Runtime(torch.device("cpu")), dataset=None)
    with FlopCounterMode(display=False) as counter:
        stats = task.step(torch.rand(4, 3, 8, 16, 16) * 2 - 1, 0, StepContext(Runtime(torch.device("cpu")), "fp32"))
    assert "r1" in stats and counter.get_total_flops() > 0


def test_compile_with_r1_trains_as_the_eager_networks_do(tiny_config):
    """The R1 penalty's double backward through D, which torch.compile cannot differentiate twice, under
    --compile: R1 steps and plain steps (lazy R1) end with the eager run's weights, to float rounding."""
    config = replace(tiny_config, model={"d_norm": "none"}, train={"r1_gamma": 1.0, "r1_every": 2})
    runtime = Runtime(torch.device("cpu"))
    real = torch.rand(2, 3, 8, 16, 16) * 2 - 1
    weights = []
    for compiled in (False, True):
        task = GANTask(replace(config, train={"compile": compiled}), runtime, dataset=None)
        assert ["r1" in task.step(real, it, StepContext(runtime, "fp32")) for it in range(2)] == [True, False]
        weights.append({key: net.state_dict() for key, net in task.networks.items()})
    for key, eager in weights[0].items():
        for name, value in eager.items():
            torch.testing.assert_close(weights[1][key][name], value, rtol=1e-4, atol=1e-5, msg=f"{key}.{name}")


def _forged_copy(run, tmp_path, **fields):
    """A copy of `run` whose checkpoint holds `fields` instead (its sha256 made to match: a forged file)."""
    from forged import forged_copy

    return forged_copy(run, tmp_path, lambda state: state.update(fields))


def _files(run) -> dict:
    """Every file of the run and its content, but the lock file (left empty, as a finished run leaves it)."""
    return {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name != ".videogan.lock"}


BAD_COUNTERS = st.one_of(st.integers(max_value=-1), st.floats(allow_nan=True), st.text(max_size=5), st.booleans(),
                         st.none(), st.lists(st.integers(), max_size=2))


@given(field=st.sampled_from(["iteration", "world_size"]), value=BAD_COUNTERS)
@example(field="iteration", value=-5)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_resume_from_a_checkpoint_with_bad_counters_changes_nothing(trained_run, tmp_path, field, value):
    from videogan.cli import main

    if field == "world_size" and isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return
    run = _forged_copy(trained_run, tmp_path, **{field: value})
    before = _files(run)
    assert main(["train", "--resume", str(run), "--iterations", "4", "--no-progress"]) == 2
    assert _files(run) == before  # stats.jsonl, config.json and the checkpoint as they were


def test_a_resume_with_another_presets_checkpoint_is_one_line_and_changes_nothing(trained_run, tmp_path, capsys):
    from videogan.cli import main
    from videogan.config import get_preset

    other = get_preset("tiny")
    other = replace(other, model={"g_width": other.model.g_width * 2}).to_dict()
    run = _forged_copy(trained_run, tmp_path, config=other)  # the weights are the small preset's
    before = _files(run)
    assert main(["train", "--resume", str(run), "--iterations", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("its generator does not fit the VideoGenerator its config describes: trunk.0.0.weight "
                          "has shape (16, 16, 2, 4, 4), the model's (16, 32, 2, 4, 4)")
    assert _files(run) == before


def test_max_minutes_shorter_than_an_iteration_says_so_and_one_iteration_is_saved(tmp_path, capsys):
    from videogan.cli import main

    args = ["train", "--preset", "tiny", "--device", "cpu", "--no-progress", "--iterations", "100"]
    assert main([*args, "--max-minutes", "1e-9", "--out", str(tmp_path / "none")]) == 0
    assert "stopped before its first iteration (--max-minutes 1e-09): nothing new to save; this run has no " \
           "checkpoint" in capsys.readouterr().err
    assert main([*args, "--max-minutes", "0.0001", "--out", str(tmp_path / "one")]) == 0  # 6 ms: one iteration
    saved = load_checkpoint(tmp_path / "one")["iteration"]
    assert saved >= 1 and f"stopped at iteration {saved} (--max-minutes 0.0001): saving" in capsys.readouterr().err
