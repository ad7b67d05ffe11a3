"""Ranks on several nodes, as a cluster starts them: one `torchrun` per node meeting at a c10d rendezvous (two
torchruns on 127.0.0.1 stand for two nodes, gloo on the CPU), and the checks that make the ranks agree: the
checkpoint rank 0 chose, the config and the initial weights."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from test_distributed import _free_port
from test_stop_signals import ENV, RANK, TINY, iterations, start_in_own_group, wait_for
from videogan.checkpoint import capture_rng, config_of, list_checkpoints, load_checkpoint, save_checkpoint
from videogan.config import get_preset

TORCHRUN = str(Path(sys.executable).with_name("torchrun"))


def start_nodes(tmp_path: Path, args: list[str]) -> list[subprocess.Popen]:
    """Two torchruns of one job (`--nnodes 2`), each in its own process group as on its own node; each rank
    writes its exit status to tmp_path/rankN.status (the RANK wrapper of test_stop_signals)."""
    for old in tmp_path.glob("rank*.status"):
        old.unlink()
    wrapper = tmp_path / "rank.py"
    wrapper.write_text(RANK)
    port, job = _free_port(), f"job{_free_port()}"
    return [start_in_own_group([TORCHRUN, "--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d",
                                "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", job, str(wrapper), str(tmp_path),
                                *args]) for _ in range(2)]


def finish_nodes(tmp_path: Path, nodes: list[subprocess.Popen], timeout: float = 240) -> str:
    """Every rank's exit status must be 0; returns the nodes' stderr joined."""
    errors = [node.communicate(timeout=timeout)[1] for node in nodes]
    statuses = [(tmp_path / f"rank{r}.status").read_text() for r in (0, 1)]
    assert statuses == ["0", "0"], "\n".join(e[-3000:] for e in errors)
    return "\n".join(errors)


def test_two_nodes_train_stop_on_sigterm_resume_and_resume_past_a_damaged_checkpoint(tmp_path):
    run = tmp_path / "run"
    nodes = start_nodes(tmp_path, ["train", *TINY, "--iterations", "100000", "--out", str(run)])
    wait_for(lambda: (run / "stats.jsonl").exists() and len(iterations(run)) >= 2, nodes[0])
    for node in nodes:  # as a scheduler stops a job: SIGTERM to everything on every node
        os.killpg(node.pid, signal.SIGTERM)
    finish_nodes(tmp_path, nodes, timeout=90)
    stopped = load_checkpoint(run)["iteration"]
    assert len(list_checkpoints(run)) == 1 and stopped >= iterations(run)[-1]

    resume = ["train", "--resume", str(run), "--no-progress", "--checkpoint-every", "1"]
    finish_nodes(tmp_path, start_nodes(tmp_path, [*resume, "--iterations", str(stopped + 2)]))
    assert iterations(run)[-2:] == [stopped + 1, stopped + 2]
    assert [load_checkpoint(p)["iteration"] for p in list_checkpoints(run)] == [stopped, stopped + 1, stopped + 2]

    newest = list_checkpoints(run)[-1]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # truncated, as by a full disk
    err = finish_nodes(tmp_path, start_nodes(tmp_path, [*resume, "--iterations", str(stopped + 3)]))
    assert newest.with_name(newest.name + ".damaged").exists()
    assert err.count(f"(moved to {newest.name}.damaged)") == 1, err[-3000:]  # rank 0 alone set it aside
    assert f"resumed {list_checkpoints(run)[-3]} at iteration {stopped + 1}" in err
    assert iterations(run)[-3:] == [stopped + 1, stopped + 2, stopped + 3]
    assert load_checkpoint(run)["iteration"] == stopped + 3


def start_ranks(per_rank: list[dict]) -> list[subprocess.Popen]:
    """One process per rank joined by MASTER_ADDR/PORT (as torchrun starts them); `per_rank` gives each its
    arguments after `python` and its working folder."""
    port = _free_port()
    return [subprocess.Popen([sys.executable, *rank["args"]], cwd=rank.get("cwd"), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**ENV, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), ENV["PYTHONPATH"]]),
                                  "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(r),
                                  "LOCAL_RANK": "0", "WORLD_SIZE": str(len(per_rank))})
            for r, rank in enumerate(per_rank)]


def errors_of(procs: list[subprocess.Popen], status: int) -> list[str]:
    """The last stderr line of every rank, each of which must exit with `status` (without torch's "[rankN]: ")."""
    results = [proc.communicate(timeout=240) for proc in procs]
    assert [proc.returncode for proc in procs] == [status] * len(procs), [err[-2000:] for _, err in results]
    return [err.strip().splitlines()[-1].split("]: ", 1)[-1] for _, err in results]


def test_a_rank_started_with_another_seed_stops_every_rank_with_one_line_naming_it(tmp_path):
    train = ["-m", "videogan.cli", "train", *TINY, "--iterations", "2", "--out", str(tmp_path / "run")]
    lines = errors_of(start_ranks([{"args": train}, {"args": [*train, "--seed", "5"]}]), status=2)
    assert lines == ["videogan train: error: rank 1 differs from rank 0 in its config: train.seed 5 (rank 0: 0); "
                     "start every rank with the same command line"] * 2
    assert not (tmp_path / "run").exists()  # nothing trained, nothing left behind


def test_a_rank_with_other_initial_weights_stops_every_rank_naming_it():
    lines = errors_of(start_ranks([{"args": [__file__, "weights"]}] * 3), status=1)
    assert all(line.startswith("ValueError: rank 1 differs from rank 0 in its initial weights (sha256 ")
               for line in lines), lines


@pytest.mark.parametrize("rank_1_sees", ["another checkpoint", "no checkpoint"])
def test_a_rank_that_cannot_load_the_checkpoint_rank_0_chose_stops_every_rank(tmp_path, rank_1_sees):
    """Two nodes whose run folders are not one shared file system: the same relative path holds another file
    on rank 1 (a diverged copy), or none."""
    state = {"config": get_preset("tiny").to_dict(), "iteration": 3, "world_size": 2, "rng": {"global": capture_rng()}}
    save_checkpoint(tmp_path / "node0" / "run" / "checkpoints" / "checkpoint-0000003.pt", state)
    node1 = tmp_path / "node1" / "run" / "checkpoints"
    node1.mkdir(parents=True)
    if rank_1_sees == "another checkpoint":
        save_checkpoint(node1 / "checkpoint-0000003.pt", {**state, "iteration": 4})
    lines = errors_of(start_ranks([{"args": [__file__, "resume"], "cwd": tmp_path / f"node{r}"} for r in (0, 1)]),
                      status=1)
    shared = "every node must see the run folder on one shared file system"
    expected = ("rank 1 loaded another run/checkpoints/checkpoint-0000003.pt than rank 0" if rank_1_sees ==
                "another checkpoint" else "rank 1 cannot load the checkpoint rank 0 chose (run/checkpoints/")
    assert all(line.startswith(f"ValueError: {expected}") and line.endswith(shared) for line in lines), lines


def _weights_rank() -> None:
    """A rank whose G was drawn from its own seed on rank 1 only."""
    from videogan.runtime import join_group
    from videogan.train.agreement import check_same_start

    torch.manual_seed(int(join_group() == 1))
    check_same_start(get_preset("tiny"), {"generator": torch.nn.Linear(3, 2)})


def _resume_rank() -> None:
    from videogan.train.agreement import agreed_resume_state

    state = agreed_resume_state(Path("run"))
    assert config_of(state) == get_preset("tiny")


if __name__ == "__main__":  # one rank, started by start_ranks: the exception's last line is the rank's error
    {"weights": _weights_rank, "resume": _resume_rank}[sys.argv[1]]()
