"""An `evaluate` result's numbers, as the registered metrics name them (`METRIC_KEYS`), for every reader
of eval-*.json (the report) and for the run's TensorBoard log."""
from __future__ import annotations

import math
from pathlib import Path

from .metrics import METRIC_KEYS


def registered_keys() -> list[str]:
    return [key for keys in METRIC_KEYS.values() for key in keys]


def finite_number(value) -> float | None:
    """A JSON value as a finite float; None for anything else (null, NaN, infinity, a 400-digit integer,
    true, a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def metric_numbers(result: dict) -> tuple[dict[str, float | None], list[str]]:
    """{key: number} for each registered key the result holds (None where it holds null, NaN or infinity:
    not measured), and a note for each value that is no number, or an integer beyond a float's range."""
    numbers, problems = {}, []
    for key in registered_keys():
        if key not in result:
            continue
        value = result[key]
        numbers[key] = finite_number(value)
        if isinstance(value, int) and not isinstance(value, bool) and numbers[key] is None:
            problems.append(f"{key} is an integer beyond a float's range")
        elif not (value is None or isinstance(value, (int, float))) or isinstance(value, bool):
            problems.append(f"{key} is {str(value)[:40]!r}, not a number")
    return numbers, problems


def send_to_tensorboard(out: Path, result: dict) -> None:
    """A result written into the run folder it evaluates (beside its checkpoints/, where the report reads
    it) goes to RUN/tb too, as eval/KEY at its iteration: FVD beside the training curves."""
    from ..train.tensorboard import TensorBoardLog, tensorboard_available

    checkpoint = Path(result["checkpoint"]).resolve()
    run_dir = Path(out).resolve().parent
    in_its_run = checkpoint.parent.name == "checkpoints" and checkpoint.parent.parent == run_dir
    if not in_its_run or type(result.get("iteration")) is not int or not tensorboard_available():
        return
    numbers = {key: value for key, value in metric_numbers(result)[0].items() if value is not None}
    log = TensorBoardLog(run_dir)
    log.scalars(result["iteration"], numbers, group="eval")
    log.close()
