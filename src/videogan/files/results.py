"""Result JSONs (evaluate, fvd) as strict JSON: a reader learns why a number is missing instead of meeting a
bare `NaN`, which strict parsers (JavaScript's JSON.parse, for one) reject."""
from __future__ import annotations

import json
import math
import os

from .atomic import write_atomic


def finite_json(result: dict) -> dict:
    """`result` with every NaN or infinite float replaced by None, and a `null_reasons` entry for each,
    keyed by its path (`fvd`, `batches[2].rate`): strict JSON parsers reject the bare `NaN` that
    `json.dumps` writes by default, and a reader should learn why a number is missing."""
    reasons = dict(result.get("null_reasons", {}))

    def clean(value, path: str):
        if isinstance(value, float) and not math.isfinite(value):
            reasons[path] = f"computed as {value} (not a number a JSON file can hold)"
            return None
        if isinstance(value, dict):
            return {key: clean(item, f"{path}.{key}" if path else str(key)) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(item, f"{path}[{index}]") for index, item in enumerate(value)]
        return value

    cleaned = clean({key: value for key, value in result.items() if key != "null_reasons"}, "")
    return {**cleaned, "null_reasons": reasons} if reasons else cleaned


def write_result_json(path: str | os.PathLike, result: dict) -> str:
    """Write a result JSON atomically as strict JSON: NaN and infinities become null with a reason
    (`finite_json`). Returns the text written."""
    text = json.dumps(finite_json(result), indent=2, allow_nan=False) + "\n"
    write_atomic(path, text)
    return text
