"""Answers of a study, read at one boundary: `parse_record` turns bytes (a POST body, a line of
answers.jsonl) into a JSON object, `check_answer` turns that into a trusted answer of this study, and
`read_answers` applies both to files, skipping each bad line with file:line and its reason.

answers.jsonl holds one JSON record per choice, the same format as the file a participant downloads
from a page opened without the server, so both kinds of file tally together.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from .manifest import Study

MAX_RECORD = 16_384  # bytes of one answer, sent or stored: a few hundred are used
MAX_RESPONSE_MS = 7 * 24 * 3600 * 1000  # a week: a page left open is slow; a larger time is a broken clock
MAX_INT_DIGITS = 18  # no field needs more; a 400-digit number would not even convert to a float


def user_agent_hash(user_agent: str) -> str:
    """Tells browsers apart without keeping what they said about themselves."""
    return hashlib.sha256(user_agent.encode()).hexdigest()[:16]


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"a number of {len(text.lstrip('-'))} digits")
    return int(text)


def parse_record(raw: bytes) -> dict:
    """One JSON object in strict JSON (no NaN or Infinity, finite numbers of bounded size); anything
    else is a ValueError saying why."""
    if len(raw) > MAX_RECORD:
        raise ValueError(f"a record of {len(raw)} bytes (at most {MAX_RECORD})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    try:
        record = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except json.JSONDecodeError as err:
        raise ValueError(f"not a complete JSON record ({err.msg}; a torn write?)") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(record, dict):
        raise ValueError(f"a JSON {type(record).__name__}, not an object")
    return record


def check_participant(participant) -> str:
    """A participant id as pages and platforms give them: 1 to 100 printable characters."""
    if not isinstance(participant, str) or not 0 < len(participant) <= 100 or not participant.isprintable():
        raise ValueError("participant must be an id of 1 to 100 printable characters")
    return participant


def _text(answer: dict, key: str, limit: int) -> str:
    value = answer.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{key} must be text, not {type(value).__name__}")
    return value[:limit]


def check_answer(study: Study, answer: dict) -> dict:
    """The answer in its stored form, with `fast` set when it came quicker than the study allows; an
    answer that does not fit this study's trials, or holds a field of the wrong type, is a ValueError."""
    if not isinstance(answer, dict):
        raise ValueError("not a JSON object")
    if answer.get("study") != study.id:
        raise ValueError(f"answer for another study ({str(answer.get('study'))[:40]!r}, this one is {study.id!r})")
    participant = check_participant(answer.get("participant"))
    trial_id = answer.get("trial")
    trial = study.trials.get(trial_id) if isinstance(trial_id, str) else None
    if trial is None:
        raise ValueError(f"no trial {str(trial_id)[:40]!r} in this study")
    if "shown_left" in answer:  # the page knows videos, not sources: which of the trial's two it put left
        if answer["shown_left"] not in ("a", "b"):
            raise ValueError(f"shown_left must be 'a' or 'b', not {str(answer['shown_left'])[:40]!r}")
        left, right = (trial.a, trial.b) if answer["shown_left"] == "a" else (trial.b, trial.a)
    else:
        left, right = _text(answer, "left", 100), _text(answer, "right", 100)
    if sorted([left, right]) != sorted(trial.pair):
        raise ValueError(f"trial {trial.id} shows {trial.a} and {trial.b}, not {left} and {right}")
    choice = answer.get("choice")
    if choice not in ("left", "right"):
        raise ValueError(f"choice must be 'left' or 'right', not {str(choice)[:40]!r}")
    response_ms = answer.get("response_ms")
    # bool is an int to Python, not a time to anyone
    if isinstance(response_ms, bool) or not isinstance(response_ms, (int, float)) \
            or not 0 <= response_ms <= MAX_RESPONSE_MS:
        raise ValueError(f"response_ms must be a number of milliseconds from 0 to {MAX_RESPONSE_MS}")
    position = answer.get("position")
    if position is not None and (isinstance(position, bool) or not isinstance(position, int) or position < 0):
        raise ValueError("position must be a whole number from 0, or absent")
    return {"study": study.id, "participant": participant, "trial": trial.id, "pair": list(trial.pair),
            "left": left, "right": right, "choice": choice, "chosen": left if choice == "left" else right,
            "catch": trial.catch, "response_ms": round(response_ms), "fast": response_ms < study.min_response_ms,
            "position": position, "ua_hash": _text(answer, "ua_hash", 64),
            "received": _text(answer, "received", 40) or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


@dataclass
class AnswerLog:
    answers: list[dict] = field(default_factory=list)  # valid, first answer of each (participant, trial)
    problems: list[str] = field(default_factory=list)  # one "file:line: reason" per record left out
    duplicates: int = 0


def read_answers(study: Study, paths: list[Path]) -> AnswerLog:
    """Every valid answer in the files, each (participant, trial) once. A torn last line (a server killed
    mid-write), a line of the wrong types or values, duplicates (a page that resent, or a downloaded copy of
    answers the server holds too) and answers that fit no trial are left out and reported; nothing is
    rewritten."""
    log, seen = AnswerLog(), set()
    for path in paths:
        for number, line in enumerate(path.read_bytes().split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                answer = check_answer(study, parse_record(line))
            except ValueError as err:
                log.problems.append(f"{path}:{number}: {err}, left out")
                continue
            key = (answer["participant"], answer["trial"])
            if key in seen:
                log.duplicates += 1
                continue
            seen.add(key)
            log.answers.append(answer)
    return log
