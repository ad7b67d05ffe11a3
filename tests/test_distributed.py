import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch


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


def test_ranks_see_disjoint_shares_and_resume_where_they_stopped():
    from itertools import islice

    from videogan.data.sampler import ResumableSampler

    ranks = [list(islice(iter(ResumableSampler(10, seed=3, rank=r, world_size=2)), 5)) for r in (0, 1)]
    assert sorted(ranks[0] + ranks[1]) == list(range(10))  # one epoch, split without overlap
    stream = list(islice(iter(ResumableSampler(10, seed=3)), 25))
    assert sorted(stream[:10]) == list(range(10)) and stream[:10] != stream[10:20]  # a new order each epoch
    resumed = list(islice(iter(ResumableSampler(10, seed=3, start=13)), 12))
    assert resumed == stream[13:25]
