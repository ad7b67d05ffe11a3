"""A study folder's description, study.json: its sources, the comparisons and every trial.

`study make` writes it; `serve` and `tally` read it and refuse a folder of another format version, so an
answer is never matched against trials it was not given for.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FORMAT = "videogan-study"
VERSION = 1
CATCH_SOURCE = "catch:noise"  # the broken video of a catch trial: not a source, never tallied
ANSWERS = "answers.jsonl"
SITE_FILES = ("index.html", "study.js", "study.css")  # copied as they are
PAGE_DATA = "study-data.js"  # the trials' videos, written per study


@dataclass(frozen=True)
class Trial:
    """Two videos to compare: a from source `a`, b from source `b` (paths without extension)."""

    id: str
    a: str
    b: str
    a_video: str
    b_video: str
    catch: bool = False

    @property
    def pair(self) -> tuple[str, str]:
        return self.a, self.b


@dataclass(frozen=True)
class Study:
    folder: Path
    id: str
    sources: list[dict]  # name, spec, kind, videos
    comparisons: list[tuple[str, str]]  # (a, b): "prefer a over b", Table 1's rows
    trials: dict[str, Trial]
    question: str
    min_response_ms: float  # an answer quicker than this is flagged `fast` and left out of the tally

    @property
    def answers_path(self) -> Path:
        return self.folder / ANSWERS


def study_dict(study_id: str, sources: list[dict], comparisons: list[tuple[str, str]], trials: list[Trial],
               question: str, settings: dict) -> dict:
    return {"format": FORMAT, "version": VERSION, "id": study_id, "question": question, "settings": settings,
            "sources": sources, "comparisons": [list(c) for c in comparisons],
            "trials": [vars(t) for t in trials]}


def load_study(folder: str | Path) -> Study:
    """The study in `folder`; a folder that is not one, or one of another format version, is a ValueError."""
    folder = Path(folder)
    path = folder / "study.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: not a study folder (no study.json; make one with `videogan study make`)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a videogan study description")
    if data.get("version") != VERSION:
        raise ValueError(f"{path}: study format version {data.get('version')}, but this videogan reads version "
                         f"{VERSION}: use the videogan version that made it, or make the study again")
    trials = {t["id"]: Trial(**t) for t in data["trials"]}
    settings = data["settings"]
    return Study(folder, data["id"], data["sources"], [tuple(c) for c in data["comparisons"]], trials,
                 data["question"], settings.get("min_response_ms", clip_ms(settings["frames"], settings["fps"])))


def clip_ms(frames: int, fps: float) -> int:
    """How long one play-through of a clip takes: the default least time of an answer."""
    return round(1000 * frames / fps) if fps > 0 else 0
