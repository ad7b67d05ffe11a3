"""CUDA paths (marked `cuda`: skipped without a GPU; benchmarks/gpu_check.sh runs them where one is lent),
and the GPU check's behaviour on a machine without one."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from videogan.config import get_preset, replace
from videogan.runtime import Runtime
from videogan.train.gan import GANTask, init_networks, train
from videogan.train.training_loop import StepContext, clips_on_device, configure_kernels

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _tiny_on_cuda(**train):
    return replace(get_preset("tiny"), train={"device": "cuda", "log_every": 1, "checkpoint_every": 2, **train})


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("precision, channels_last", [("fp32", False), ("tf32", True), ("bf16", False),
                                                      ("bf16", True)])
def test_training_steps_on_cuda_change_both_networks_with_finite_losses(tmp_path, precision, channels_last):
    config = _tiny_on_cuda(iterations=2, precision=precision, channels_last=channels_last)
    reference = init_networks(config.model, config.train.seed)
    checkpoint = train(config, tmp_path, progress=False)
    state = torch.load(checkpoint, weights_only=True)
    for net, key in zip(reference, ("generator", "discriminator")):
        assert any(not torch.equal(v, net.state_dict()[k]) for k, v in state[key].items() if "weight" in k), key
        assert all(v.dtype in (torch.float32, torch.int64) for v in state[key].values())  # weights stay fp32
    assert state["opt_g"]["state"][0]["exp_avg"].dtype == torch.float32


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("precision, d_norm", [("tf32", "none"), ("bf16", "none"), ("tf32", "batch")])
def test_the_r1_penalty_runs_on_cuda(precision, d_norm):
    """The demo's R1 step (a double backward through D's convolutions) with cuDNN, under autocast too, and on
    the paper's BatchNorm D."""
    config = replace(_tiny_on_cuda(r1_gamma=1.0), model={"d_norm": d_norm})
    runtime = Runtime(torch.device("cuda"))
    configure_kernels(precision, runtime.device)
    task = GANTask(config, runtime, None)
    stats = task.step(torch.rand(4, 3, 8, 16, 16, device="cuda") * 2 - 1, 0, StepContext(runtime, precision))
    assert torch.isfinite(stats["r1"]) and stats["r1"] > 0 and torch.isfinite(stats["loss_d"])


@pytest.mark.cuda
@requires_cuda
def test_codes_and_clips_are_the_same_on_cuda_and_cpu():
    config = get_preset("tiny")
    video = torch.randint(0, 256, (4, 3, 8, 16, 16), dtype=torch.uint8)  # b 3 t h w
    on_cpu, on_gpu = (clips_on_device(video, torch.device(d), False) for d in ("cpu", "cuda"))
    assert torch.equal(on_cpu, on_gpu.cpu())
    tasks = [GANTask(config, Runtime(torch.device(d)), None) for d in ("cpu", "cuda")]
    z_cpu, z_gpu = (task.inputs(real, 7)[0] for task, real in zip(tasks, (on_cpu, on_gpu)))
    assert z_gpu.device.type == "cuda" and torch.equal(z_cpu, z_gpu.cpu())


@pytest.mark.cuda
@requires_cuda
def test_discriminator_two_forwards_then_one_backward_on_cudnn_batchnorm():
    """The step that DDP's buffer broadcast broke on CUDA, here at every precision."""
    config = _tiny_on_cuda()
    runtime = Runtime(torch.device("cuda"))
    for precision in ("fp32", "tf32", "bf16"):
        configure_kernels(precision, runtime.device)
        task = GANTask(config, runtime, None)
        real = torch.rand(4, 3, 8, 16, 16, device="cuda") * 2 - 1
        stats = task.step(real, 0, StepContext(runtime, precision))
        assert all(torch.isfinite(v) for v in stats.values()), precision


def test_gpu_check_without_a_gpu_says_so_and_exits_0():
    script = Path(__file__).parents[1] / "benchmarks" / "gpu_check.sh"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable}
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no CUDA GPU visible on this machine" in result.stdout


@pytest.mark.cuda
@requires_cuda
def test_a_training_step_never_makes_the_host_wait_for_the_gpu():
    config = _tiny_on_cuda()
    runtime = Runtime(torch.device("cuda"))
    configure_kernels("tf32", runtime.device)
    task, trainer = GANTask(config, runtime, None), StepContext(runtime, "tf32")
    batch = torch.randint(0, 256, (4, 3, 8, 16, 16), dtype=torch.uint8).pin_memory()  # as the loader delivers it
    task.step(clips_on_device(batch, runtime.device, False), 0, trainer)  # first step: allocations, algorithm choice
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        task.step(clips_on_device(batch, runtime.device, False), 1, trainer)
    finally:
        torch.cuda.set_sync_debug_mode("default")
