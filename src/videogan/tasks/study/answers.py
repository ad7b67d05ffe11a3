"""Answers of a study: checking one as it arrives (`serve`) and reading them back (`tally`).

answers.jsonl holds one JSON record per choice, the same format as the file a participant downloads
from a page opened without the server, so both kinds of file tally together.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .manifest import Study


def user_agent_hash(user_agent: str) -> str:
    """Tells browsers apart without keeping what they said about themselves."""
    return hashlib.sha256(user_agent.encode()).hexdigest()[:16]


def check_answer(study: Study, answer: dict) -> dict:
    """The answer in its stored form; an answer that does not fit this study's trials is a ValueError."""
    if not isinstance(answer, dict):
        raise ValueError("not a JSON object")
    if answer.get("study") != study.id:
        raise ValueError(f"answer for another study ({answer.get('study')!r}, this one is {study.id!r})")
    participant = answer.get("participant")
    if not isinstance(participant, str) or not 0 < len(participant) <= 100:
        raise ValueError("participant must be a non-empty id of at most 100 characters")
    trial = study.trials.get(answer.get("trial"))
    if trial is None:
        raise ValueError(f"no trial {answer.get('trial')!r} in this study")
    left, right, choice = answer.get("left"), answer.get("right"), answer.get("choice")
    if "shown_left" in answer:  # the page knows videos, not sources: which of the trial's two it put left
        if answer["shown_left"] not in ("a", "b"):
            raise ValueError(f"shown_left must be 'a' or 'b', not {answer['shown_left']!r}")
        left, right = (trial.a, trial.b) if answer["shown_left"] == "a" else (trial.b, trial.a)
    if sorted([str(left), str(right)]) != sorted(trial.pair):
        raise ValueError(f"trial {trial.id} shows {trial.a} and {trial.b}, not {left} and {right}")
    if choice not in ("left", "right"):
        raise ValueError(f"choice must be 'left' or 'right', not {choice!r}")
    response_ms = answer.get("response_ms")
    if not isinstance(response_ms, (int, float)) or response_ms < 0:
        raise ValueError("response_ms must be a number of milliseconds")
    return {"study": study.id, "participant": participant, "trial": trial.id, "pair": list(trial.pair),
            "left": left, "right": right, "choice": choice, "chosen": left if choice == "left" else right,
            "catch": trial.catch, "response_ms": round(float(response_ms)), "position": answer.get("position"),
            "ua_hash": str(answer.get("ua_hash", ""))[:64],
            "received": answer.get("received") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


@dataclass
class AnswerLog:
    answers: list[dict] = field(default_factory=list)  # valid, first answer of each (participant, trial)
    problems: list[str] = field(default_factory=list)  # one line per record left out, with its reason
    duplicates: int = 0


def read_answers(study: Study, paths: list[Path]) -> AnswerLog:
    """Every valid answer in the files, each (participant, trial) once. A torn last line (a server killed
    mid-write), duplicates (a page that resent, or a downloaded copy of answers the server holds too) and
    answers that fit no trial are left out and reported; nothing is rewritten."""
    log, seen = AnswerLog(), set()
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                answer = check_answer(study, json.loads(line))
            except json.JSONDecodeError:
                log.problems.append(f"{path} line {number}: not a complete JSON record (a torn write?), left out")
                continue
            except ValueError as err:
                log.problems.append(f"{path} line {number}: {err}, left out")
                continue
            key = (answer["participant"], answer["trial"])
            if key in seen:
                log.duplicates += 1
                continue
            seen.add(key)
            log.answers.append(answer)
    return log
