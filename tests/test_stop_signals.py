"""Stop signals as schedulers send them: SIGTERM to every process of the job (`kill -- -PGID`, `timeout`,
Slurm, Kubernetes), loader workers and pool processes included. The main process decides: training saves a
checkpoint and exits 0, prepare publishes its finished inputs; a re-run goes on from there."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_data_prepare import ARGS, write_sources
from videogan.data.shards import read_manifests
from videogan.checkpoint import list_checkpoints, load_checkpoint

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "OMP_NUM_THREADS": "1"}
TINY = ["--preset", "tiny", "--device", "cpu", "--no-progress", "--log-every", "1", "--sample-every", "100000",
        "--checkpoint-every", "100000"]


def start_in_own_group(args: list[str]) -> subprocess.Popen:
    """`args` as a job of its own: a new session, so that killpg reaches it and every process it starts."""
    return subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def videogan(*args: str) -> list[str]:
    return [sys.executable, "-m", "videogan.cli", *args]


def wait_for(condition, proc: subprocess.Popen, timeout: float = 180) -> None:
    end = time.time() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < end, "timed out"
        time.sleep(0.05)


def stop_group(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    """SIGTERM to the whole group; (exit status, stderr)."""
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def iterations(run: Path) -> list[int]:
    return [json.loads(line)["iteration"] for line in (run / "stats.jsonl").read_text().splitlines()]


def test_sigterm_to_trainings_group_with_loader_workers_saves_and_a_resume_continues(tmp_path):
    run = tmp_path / "run"
    proc = start_in_own_group(videogan("train", *TINY, "--workers", "2", "--iterations", "100000", "--out", str(run)))
    wait_for(lambda: (run / "stats.jsonl").exists() and len(iterations(run)) >= 2, proc)
    status, err = stop_group(proc)
    assert status == 0 and "Traceback" not in err, err[-3000:]
    stopped = load_checkpoint(run)["iteration"]
    assert f"stopped at iteration {stopped} (SIGTERM): saving a checkpoint" in err
    assert stopped >= iterations(run)[-1] and len(list_checkpoints(run)) == 1
    resumed = subprocess.run(videogan("train", "--resume", str(run), "--no-progress", "--iterations", str(stopped + 2)),
                             env=ENV, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert iterations(run)[-2:] == [stopped + 1, stopped + 2] and load_checkpoint(run)["iteration"] == stopped + 2


def test_a_first_sigterm_is_honoured_while_the_first_batch_is_built(tmp_path):
    run = tmp_path / "run"
    # 50,000 clips take a minute to build in the main process (--workers 0)
    proc = start_in_own_group(videogan("train", *TINY, "--workers", "0", "--batch-size", "50000", "--out", str(run)))
    for line in proc.stderr:
        if line.startswith("global batch"):
            break
    time.sleep(1)
    started = time.monotonic()
    status, err = stop_group(proc)
    assert time.monotonic() - started < 15
    assert status == 0 and "stopped before its first iteration (SIGTERM): nothing new to save" in err, err[-2000:]


def test_sigterm_to_prepares_group_publishes_finished_inputs_and_a_rerun_does_the_rest(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    write_sources(src, 40)  # enough that the stop comes before both workers are through (12 were, once, in CI)
    command = videogan("prepare", str(src), str(out), *ARGS, "--workers", "2")
    proc = start_in_own_group(command)
    wait_for(lambda: read_manifests(out / "shards")[1], proc)  # a worker published its first 4 inputs
    status, err = stop_group(proc)
    assert status == 0 and "Traceback" not in err, err[-3000:]
    assert "stopped by SIGTERM: finished inputs are published" in err
    _, first = read_manifests(out / "shards")
    assert 4 <= len(first) < 40 and not list(out.rglob("*.tmp"))
    assert f"{len(first)} inputs -> " in err and f", {40 - len(first)} left for a re-run, " in err, err[-3000:]
    rerun = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0 and f"{len(first)} already done" in rerun.stderr, rerun.stderr[-3000:]
    clips, inputs = read_manifests(out / "shards")
    assert sorted(r["source"] for r in inputs) == sorted(f"v{i}.mp4" for i in range(40))  # each exactly once


RANK = """
import os, signal, subprocess, sys
from pathlib import Path
# the rank's exit status is what the test asks about; torchrun reports only its own
signal.signal(signal.SIGTERM, lambda *_: None)
status = subprocess.call([sys.executable, "-m", "videogan.cli", *sys.argv[2:]])
Path(sys.argv[1], f"rank{os.environ['RANK']}.status").write_text(str(status))
"""


def test_sigterm_to_torchruns_group_gives_one_checkpoint_and_exit_0_on_every_rank(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    torchrun = str(torchrun if torchrun.exists() else shutil.which("torchrun"))
    run, rank = tmp_path / "run", tmp_path / "rank.py"
    rank.write_text(RANK)
    train = ["train", *TINY, "--workers", "1", "--out", str(run)]
    proc = start_in_own_group([torchrun, "--standalone", "--nproc_per_node", "2", str(rank), str(tmp_path), *train,
                               "--iterations", "100000"])
    wait_for(lambda: (run / "stats.jsonl").exists() and len(iterations(run)) >= 2, proc)
    stop_group(proc, timeout=90)  # torchrun forwards the signal to each rank's group and reports it as a failure
    assert [(tmp_path / f"rank{r}.status").read_text() for r in (0, 1)] == ["0", "0"]
    stopped = load_checkpoint(run)["iteration"]
    assert len(list_checkpoints(run)) == 1 and stopped >= iterations(run)[-1]
    resumed = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "videogan.cli", "train",
                              "--resume", str(run), "--no-progress", "--iterations", str(stopped + 1)],
                             env=ENV, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert iterations(run)[-1] == stopped + 1 and load_checkpoint(run)["iteration"] == stopped + 1


@pytest.mark.parametrize("repeat", [signal.SIGTERM, signal.SIGINT])
def test_a_repeat_of_the_same_request_is_not_a_second_ctrl_c(repeat):
    from videogan.stop_signals import StopRequest

    with StopRequest() as request:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), repeat)  # torchrun forwards the group's signal to ranks that got it already
        time.sleep(0.1)
    assert request.requested == "SIGTERM"


SHARING_HELPER = """
import os, sys
from multiprocessing import current_process, resource_sharer
from videogan.stop_signals import ignore_stop_signals
ignore_stop_signals()  # as a loader worker starts
shared = [resource_sharer.DupFd(os.pipe()[0]) for _ in range(int(sys.argv[1]))]  # as a batch's tensors are sent
print(repr([current_process().authkey.hex(), *(one._id for one in shared)]), flush=True)
sys.stdin.read()
"""


@settings(max_examples=8, deadline=None)
@given(st.lists(st.sampled_from(["after connecting", "after asking"]), min_size=1, max_size=3))
def test_a_helper_is_quiet_when_the_main_process_hangs_up_while_fetching_a_file_descriptor(hang_ups):
    """A SIGTERM to the group can end the main process at any point of the handshake by which it fetches a
    batch's file descriptor from a loader worker (multiprocessing's resource sharer); the worker's sharing
    thread must not print that as a traceback."""
    import ast
    from multiprocessing.connection import Client
    from multiprocessing.reduction import recv_handle

    helper = subprocess.Popen([sys.executable, "-c", SHARING_HELPER, str(len(hang_ups) + 1)], env=ENV, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    authkey, *shared = ast.literal_eval(helper.stdout.readline())
    for hang_up, (address, key) in zip(hang_ups, shared):
        with Client(address, authkey=bytes.fromhex(authkey)) as connection:
            if hang_up == "after asking":
                connection.send((key, os.getpid()))
    address, key = shared[-1]
    with Client(address, authkey=bytes.fromhex(authkey)) as connection:  # served after every hang-up before it
        connection.send((key, os.getpid()))
        os.close(recv_handle(connection))
    _, err = helper.communicate("", timeout=30)
    assert helper.returncode == 0 and "Traceback" not in err, err[-3000:]


def _a_helper_that_starts_slowly(initialized):
    from videogan.stop_signals import ignore_stop_signals

    time.sleep(1.0)  # a spawned helper's imports, or a loader worker's set-up before its worker_init_fn
    ignore_stop_signals()
    initialized.set()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_helper_survives_a_stop_signal_that_comes_before_its_initializer(method):
    from videogan.stop_signals import helper_context

    context = helper_context(method)
    initialized = context.Event()
    helper = context.Process(target=_a_helper_that_starts_slowly, args=(initialized,))
    helper.start()
    os.kill(helper.pid, signal.SIGTERM)  # the group's SIGTERM, the moment the helper exists
    helper.join(60)
    assert helper.exitcode == 0 and initialized.is_set()
    assert not {signal.SIGTERM, signal.SIGINT} & signal.pthread_sigmask(signal.SIG_BLOCK, [])  # ours again
