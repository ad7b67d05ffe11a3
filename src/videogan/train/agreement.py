"""What the ranks of a torchrun job agree on before they train, so that a disagreement stops every rank with
the same one line instead of one rank dying while the others wait for it in a collective.

- The checkpoint to resume: rank 0 alone chooses it (the newest that loads) and alone renames a damaged
  newer one to `*.damaged`; it sends the path and content hash, every rank loads that path and checks the
  hash of what it loaded (a run folder that is not one shared file system shows up here).
- The starting point: every rank's resolved config and the hash of its initial weights must be rank 0's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

import torch.distributed as dist
from torch import nn

from ..checkpoint import content_hash, load_checkpoint, load_latest, loaded_hash
from ..config import RunConfig
from ..runtime import join_group, leave_group

T = TypeVar("T")


def decided_by_rank_0(decide: Callable[[], T]) -> T:
    """`decide()` run by rank 0 alone (one process: by itself); every rank gets its answer, or stops with the
    line of its error. The answer travels pickled: keep it small."""
    rank = join_group()
    if not dist.is_initialized():
        return decide()
    answer: list = [None]
    error = None
    if rank == 0:
        try:
            answer = [("answer", decide())]
        except Exception as err:  # the other ranks must hear of any failure, or they would wait for ever
            error, answer = err, [("error", str(err) if isinstance(err, (OSError, ValueError))
                                   else f"rank 0 failed: {type(err).__name__}: {err}")]
    dist.broadcast_object_list(answer, src=0)
    if error is not None:
        leave_group()
        raise error
    kind, value = answer[0]
    if kind == "error":
        _stop(value)
    return value


def agreed_resume_state(run_dir: Path, prepare: Callable[[], None] = lambda: None) -> dict:
    """The checkpoint every rank resumes from: rank 0 runs `prepare` (its checks of the run folder), then
    chooses the newest checkpoint that loads, setting damaged newer ones aside; the others load the same path
    and must find the same content hash."""
    chosen = {}

    def choose() -> tuple[str, str]:
        prepare()
        chosen["state"] = load_latest(run_dir, set_aside=True)
        return chosen["state"]["path"], loaded_hash(chosen["state"])

    path, digest = decided_by_rank_0(choose)
    state, problem = chosen.get("state"), None
    if state is None:  # ranks > 0
        rank = dist.get_rank()
        shared = "every node must see the run folder on one shared file system"
        try:
            state = load_checkpoint(path)
        except (OSError, ValueError) as err:
            problem = f"rank {rank} cannot load the checkpoint rank 0 chose ({err}): {shared}"
        else:
            if loaded_hash(state) != digest:
                problem = (f"rank {rank} loaded another {path} than rank 0 (sha256 {loaded_hash(state)[:12]}, rank 0: "
                           f"{digest[:12]}): {shared}")
    _stop_all_if_any(problem)
    return state


def _stop_all_if_any(problem: str | None) -> None:
    """Every rank's problem (or None) gathered: the first one stops every rank with its line."""
    problems = [problem]
    if dist.is_initialized():
        problems = [None] * dist.get_world_size()
        dist.all_gather_object(problems, problem)
    if first := next((p for p in problems if p), None):
        _stop(first)


def _stop(problem: str) -> None:
    """Stop this rank with `problem`, which every rank has in hand: each leaves the group first, so that none
    aborts at exit (see `runtime.leave_group`)."""
    leave_group()
    raise ValueError(problem)


def weights_hash(networks: dict[str, nn.Module]) -> str:
    """sha256 over the networks' state dicts (parameters and buffers: bytes, dtypes and shapes)."""
    return content_hash({key: network.state_dict() for key, network in networks.items()})


def check_same_start(config: RunConfig, networks: dict[str, nn.Module]) -> None:
    """Every rank's resolved config and initial weights must be rank 0's; the first rank that differs stops
    every rank with one line naming it and what differs."""
    if not dist.is_initialized():
        return
    settings = _flat(config.to_dict())  # sent along to name the settings that differ
    mine = {"config": content_hash(settings), "settings": settings, "weights": weights_hash(networks)}
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    first = everyone[0]
    for rank, theirs in enumerate(everyone[1:], start=1):
        if theirs["config"] != first["config"]:
            differs = ", ".join(f"{key} {theirs['settings'].get(key)!r} (rank 0: {first['settings'].get(key)!r})"
                                for key in sorted(first["settings"].keys() | theirs["settings"].keys())
                                if theirs["settings"].get(key) != first["settings"].get(key))
            _stop(f"rank {rank} differs from rank 0 in its config: {differs}; start every rank with the same "
                  "command line")
        if theirs["weights"] != first["weights"]:
            _stop(f"rank {rank} differs from rank 0 in its initial weights (sha256 {theirs['weights'][:12]}, rank 0: "
                  f"{first['weights'][:12]}): ranks must start from one seed or one checkpoint")


def _flat(settings: dict, prefix: str = "") -> dict:
    """{"train": {"seed": 0}} -> {"train.seed": 0}"""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
