"""The files `videogan report` reads from a run folder, each checked here before the page uses it:
eval-*.json, and config.json against the checkpoint's config (stats.jsonl goes through train/log.py's
reader). A file or a value that is not what it should be is left out with a note naming it; the rest of
the page is built."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..eval.results import metric_numbers
from ..train.log import MAX_ITERATION

MAX_BYTES = 10_000_000  # an evaluation is a few kB: a larger eval-*.json is not one


@dataclass(frozen=True)
class Evaluation:
    name: str  # the file's name (eval-ITERATION.json by default)
    iteration: int
    n: int | None  # videos per set
    numbers: dict[str, float | None]  # each registered key the file holds: a finite number, or None (not measured)
    skipped: tuple[str, ...]  # why a metric wrote no numbers ("builtin_score: the real videos are not ...")
    text: str  # the file as written, for the page's raw view


def _text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"{path}: {path.stat().st_size} bytes, more than an evaluation's {MAX_BYTES}")
        return path.read_text(errors="replace")
    except OSError as err:
        raise ValueError(f"{path}: unreadable ({err.strerror or err})") from None


def _json(path: Path, text: str):
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:  # RecursionError: brackets nested thousands deep
        raise ValueError(f"{path}: not JSON ({err})") from None


def read_evaluation(path: Path) -> tuple[Evaluation, list[str]]:
    """One eval-*.json and a note per value left out of it; a ValueError naming the file when it is no
    evaluation at all (unreadable, not JSON, not an object, no whole iteration)."""
    text = _text(path)
    result = _json(path, text)
    if not isinstance(result, dict):
        raise ValueError(f"{path}: a JSON {type(result).__name__}, not an evaluation (an object)")
    iteration, n = result.get("iteration"), result.get("n")
    if type(iteration) is not int or not 0 <= iteration <= MAX_ITERATION:  # bool is an int: not one
        raise ValueError(f"{path}: no whole iteration from 0 to 2^53 (it is {str(iteration)[:40]!r})")
    numbers, problems = metric_numbers(result)
    skipped = tuple(f"{key.removesuffix('_skipped')}: {value}" for key, value in result.items()
                    if key.endswith("_skipped") and isinstance(value, str))
    evaluation = Evaluation(path.name, iteration, n if type(n) is int and n >= 0 else None, numbers, skipped, text)
    return evaluation, [f"{path}: {problem}: left out" for problem in problems]


def read_evaluations(run_dir: Path) -> tuple[list[Evaluation], list[str]]:
    """The run folder's evaluations in order of iteration (then file name), and a note for each file or
    value left out."""
    evaluations, notes = [], []
    for path in sorted(run_dir.glob("eval-*.json")):
        try:
            evaluation, problems = read_evaluation(path)
        except ValueError as err:
            notes.append(f"{err}: left out")
            continue
        evaluations.append(evaluation)
        notes += problems
    return sorted(evaluations, key=lambda e: (e.iteration, e.name)), notes


@dataclass(frozen=True)
class ConfigCheck:
    text: str | None  # config.json as written; None: there is none
    differences: tuple[tuple[str, str, str], ...]  # (field, config.json's value, the checkpoint's), as JSON
    problem: str | None  # why config.json could not be compared with the checkpoint's config


def _fields(config: dict, sections) -> dict[str, object]:
    return {f"{section}.{key}": value for section in sections if isinstance(config.get(section), dict)
            for key, value in config[section].items()}


def check_config(path: Path, checkpoint: dict | None) -> ConfigCheck:
    """config.json against `checkpoint`'s config (the sections the checkpoint holds: model, train, data,
    and the baseline's settings): what differs was edited by hand, or belongs to another run, and the
    checkpoint is what `sample`, `evaluate` and a resume use."""
    if not path.exists():
        return ConfigCheck(None, (), None)
    try:
        text = _text(path)
    except ValueError as err:
        return ConfigCheck(None, (), str(err))
    try:
        written = _json(path, text)
    except ValueError as err:
        return ConfigCheck(text, (), str(err))
    if not isinstance(written, dict):
        return ConfigCheck(text, (), f"{path}: a JSON {type(written).__name__}, not a config (an object)")
    if checkpoint is None:
        return ConfigCheck(text, (), None)
    expected = {**checkpoint["config"], **({"baseline": checkpoint["baseline"]} if "baseline" in checkpoint else {})}
    ran, says = _fields(expected, expected), _fields(written, expected)
    shown = {key: json.dumps(value) for key, value in says.items()}
    differences = tuple((key, shown.get(key, "(missing)"), json.dumps(ran[key]) if key in ran else "(missing)")
                        for key in sorted(ran.keys() | says.keys())
                        if (key in says, says.get(key)) != (key in ran, ran.get(key)))
    return ConfigCheck(text, differences, None)
