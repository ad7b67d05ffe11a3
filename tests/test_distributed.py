"""Two CPU ranks (gloo), started as torchrun starts them: one process per rank with RANK, WORLD_SIZE and
MASTER_ADDR/PORT in the environment."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from videogan.checkpoint import list_checkpoints

TINY = ["--preset", "tiny", "--device", "cpu", "--no-progress", "--log-every", "1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_ranks(args: list[str], world_size: int = 2) -> list[subprocess.Popen]:
    """`python args...` once per rank, joined into one process group."""
    port = _free_port()
    procs = []
    for rank in range(world_size):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
               "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
        procs.append(subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    return procs


def _finish(procs: list[subprocess.Popen], timeout: float = 240) -> None:
    for rank, proc in enumerate(procs):
        _, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, (rank, err[-3000:])


def _stats(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def _wait_for(condition, procs, timeout: float = 120) -> None:
    end = time.time() + timeout
    while not condition():
        assert time.time() < end, "timed out"
        assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs]
        time.sleep(0.05)


def _rank_worker(run_dir: str, iterations: int, resume: bool, out: str) -> None:
    """One rank of a tiny GAN run through the library; saves its weights and the codes it drew."""
    from videogan.config import get_preset, replace
    from videogan.train.gan import GANTask
    from videogan.train.training_loop import latest_state, run_task

    drawn = {}

    class Recording(GANTask):
        def inputs(self, real, iteration):
            inputs = super().inputs(real, iteration)
            drawn[iteration] = inputs[0].clone()
            return inputs

    config = replace(get_preset("tiny"), train={"iterations": iterations, "checkpoint_every": 2, "device": "cpu"})
    _, task, _ = run_task(Recording, config, Path(run_dir), latest_state(Path(run_dir), resume), progress=False)
    torch.save({"drawn": drawn, **{name: net.state_dict() for name, net in task.networks.items()}}, out)


def test_ranks_keep_identical_weights_and_draw_their_own_noise_across_a_resume(tmp_path):
    run = tmp_path / "run"
    for iterations, resume in ((2, False), (4, True)):
        out = tmp_path / f"{iterations}-%d"
        _finish(_start_ranks([__file__, str(run), str(iterations), str(int(resume)), str(out)]))
        ranks = [torch.load(tmp_path / f"{iterations}-{rank}", weights_only=True) for rank in (0, 1)]
        for name in ("generator", "discriminator"):
            for key, value in ranks[0][name].items():  # weights, and BatchNorm statistics averaged for the checkpoint
                assert torch.equal(value, ranks[1][name][key]), (iterations, name, key)
        drawn = [r["drawn"] for r in ranks]
        assert sorted(drawn[0]) == list(range(iterations - 2, iterations))  # this run's iterations only
        for iteration in drawn[0]:  # the two halves of the global batch are different fakes
            assert not torch.allclose(drawn[0][iteration], drawn[1][iteration]), iteration


def without_preset(command: list[str]) -> list[str]:
    """`command` for a resume: the run's saved config is what a resume continues, so --preset is refused."""
    at = command.index("--preset")
    return command[:at] + command[at + 2:]


def test_kill_9_and_resume_under_two_ranks_logs_the_losses_of_an_uninterrupted_run(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    command = ["-m", "videogan.cli", "train", *TINY, "--checkpoint-every", "2"]
    _finish(_start_ranks([*command, "--iterations", "6", "--out", str(whole)]))
    procs = _start_ranks([*command, "--iterations", "100000", "--out", str(parts)])
    _wait_for(lambda: list_checkpoints(parts), procs)
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    _finish(_start_ranks([*without_preset(command), "--iterations", "6", "--resume", str(parts)]))
    a, b = _stats(whole), _stats(parts)
    assert [r["iteration"] for r in b] == [1, 2, 3, 4, 5, 6]
    for ra, rb in zip(a, b):
        for key in ("loss_d", "loss_g", "d_real", "d_fake", "mask_mean"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-5, abs=1e-6), (ra["iteration"], key)


@pytest.mark.parametrize("command", [["train"], ["baseline", "train", "--gmm-components", "2", "--gmm-clips", "8"]])
def test_sigterm_to_one_rank_stops_both_with_one_checkpoint(tmp_path, command):
    run = tmp_path / "run"
    procs = _start_ranks(["-m", "videogan.cli", *command, *TINY, "--iterations", "100000", "--checkpoint-every",
                          "100000", "--sample-every", "100000", "--out", str(run)])
    _wait_for(lambda: (run / "stats.jsonl").exists() and (run / "stats.jsonl").read_text().strip(), procs)
    procs[1].send_signal(signal.SIGTERM)
    _finish(procs, timeout=60)  # both exit 0: neither waits for the other in an all-reduce
    checkpoints = list_checkpoints(run)
    assert len(checkpoints) == 1
    state = torch.load(checkpoints[0], weights_only=True)
    assert state["iteration"] >= _stats(run)[-1]["iteration"] and state["world_size"] == 2
    assert "gmm" not in state  # a baseline stopped by a signal resumes before fitting its mixture


def test_two_ranks_under_torchrun_train_in_step_and_only_rank_0_writes(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    run = tmp_path / "run"
    cmd = [str(torchrun if torchrun.exists() else shutil.which("torchrun")), "--standalone", "--nproc_per_node", "2",
           "-m", "videogan.cli", "train", "--preset", "tiny", "--iterations", "3", "--log-every", "1",
           "--checkpoint-every", "3", "--device", "cpu", "--out", str(run), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == [1, 2, 3]  # one writer, not two
    state = torch.load(run / "checkpoints" / "checkpoint-0000003.pt", weights_only=True)
    assert state["iteration"] == 3 and not list(run.glob("**/*.tmp*"))
    semantics = json.loads((run / "config.json").read_text())["distributed"]
    assert semantics == {"world_size": 2, "batch_per_rank": 4, "global_batch": 8, "batch_norm_clips": 4}


def test_ranks_see_disjoint_shares_and_resume_where_they_stopped():
    from itertools import islice

    from videogan.data.sampler import ResumableSampler

    ranks = [[i for _, i in islice(iter(ResumableSampler(10, seed=3, rank=r, world_size=2)), 5)] for r in (0, 1)]
    assert sorted(ranks[0] + ranks[1]) == list(range(10))  # one epoch, split without overlap
    stream = list(islice(iter(ResumableSampler(10, seed=3)), 25))
    assert [e for e, _ in stream] == [0] * 10 + [1] * 10 + [2] * 5
    stream = [i for _, i in stream]
    assert sorted(stream[:10]) == list(range(10)) and stream[:10] != stream[10:20]  # a new order each epoch
    resumed = [i for _, i in islice(iter(ResumableSampler(10, seed=3, start=13)), 12)]
    assert resumed == stream[13:25]


if __name__ == "__main__":  # one rank of _rank_worker, started by _start_ranks
    run_dir, iterations, resume, out = sys.argv[1:]
    _rank_worker(run_dir, int(iterations), bool(int(resume)), out.replace("%d", os.environ["RANK"]))
