"""An `evaluate` result's numbers, as the registered metrics name them (`METRIC_KEYS`), for every reader
of eval-*.json (the report) and for the run's TensorBoard log (the `evaluate` command)."""
from __future__ import annotations

import math

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

