"""`videogan study tally`: how often each source was preferred over each other, as Table 1.

Participants who chose the noise video in more catch trials than allowed are left out (the paper's
check: workers who said broken videos were the realistic ones). Each preference comes with a 95%
Wilson score interval, which stays inside [0, 1] and is honest at the small counts of a pilot.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

from ...figures import new_figure, save_figure
from .answers import read_answers
from .manifest import load_study

Z95 = 1.959964


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% score interval of a binomial proportion (Wilson, 1927)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def tally(study_dir: str | Path, extra: list[str | Path] = (), max_catch_failures: int = 0) -> dict:
    study = load_study(study_dir)
    paths = [p for p in [study.answers_path, *map(Path, extra)] if p.exists() or p != study.answers_path]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such answers file")
    log = read_answers(study, paths)
    if not log.answers:
        where = ", ".join(map(str, paths)) or f"{study.answers_path} (missing)"
        raise ValueError(f"no valid answers in {where}" + (f" ({len(log.problems)} left out)" if log.problems else "")
                         + ": run `videogan study serve`, or pass downloaded answer files with --answers")
    catch_failed, catch_seen = defaultdict(int), defaultdict(int)
    for answer in log.answers:
        if answer["catch"]:
            catch_seen[answer["participant"]] += 1
            catch_failed[answer["participant"]] += answer["chosen"] != answer["pair"][0]
    participants = sorted({a["participant"] for a in log.answers})
    excluded = sorted(p for p in participants if catch_failed[p] > max_catch_failures)
    kept = [a for a in log.answers if a["participant"] not in excluded and not a["catch"] and not a["fast"]]
    fast = sum(a["fast"] and not a["catch"] and a["participant"] not in excluded for a in log.answers)
    rows = []
    for a, b in study.comparisons:
        answers = [x for x in kept if sorted(x["pair"]) == sorted([a, b])]
        wins = sum(x["chosen"] == a for x in answers)
        low, high = wilson_interval(wins, len(answers))
        rows.append({"prefer": a, "over": b, "n": len(answers), "chosen": wins,
                     "percent": round(100 * wins / len(answers), 1) if answers else None,
                     "ci95": [round(100 * low, 1), round(100 * high, 1)],
                     "participants": len({x["participant"] for x in answers})})
    return {"study": study.id, "question": study.question, "answers": len(log.answers),
            "duplicates_left_out": log.duplicates, "bad_lines_left_out": len(log.problems), "problems": log.problems,
            "fast_answers_left_out": fast,
            "fast": f"answered in less than {study.min_response_ms} ms (quicker than the study allows)",
            "participants": len(participants), "excluded_participants": excluded,
            # to check a paid participant's work before approving it: the completion code proves nothing
            "answers_per_participant": dict(sorted(Counter(a["participant"] for a in log.answers).items())),
            "exclusion": f"chose noise over a real video in more than {max_catch_failures} catch trial(s)",
            "catch_trials_answered": sum(catch_seen.values()), "rows": rows}


def preference_bars(path: Path, rows: list[dict], title: str) -> Path:
    """Table 1 as a chart: one horizontal bar per "prefer A over B" row, top to bottom in the table's
    order, with its 95% interval and the 50% of random preference."""
    figure = new_figure(7.5, 1.2 + 0.45 * len(rows))
    axes = figure.add_subplot()
    labels = [f'Prefer {r["prefer"]} over {r["over"]}\n(n = {r["n"]})' for r in rows]
    y = list(range(len(rows)))[::-1]
    percents = [r["percent"] or 0.0 for r in rows]
    errors = [[p - r["ci95"][0] for p, r in zip(percents, rows)], [r["ci95"][1] - p for p, r in zip(percents, rows)]]
    axes.barh(y, percents, xerr=errors, color="#4c72b0", ecolor="black", capsize=3, height=0.6)
    axes.axvline(50, color="grey", linestyle="--", linewidth=1, label="random preference (50%)")
    axes.set_yticks(y, labels, fontsize=8)
    axes.set_xlim(0, 100)
    axes.set_xlabel("percentage of trials (95% Wilson interval)")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="lower right", fontsize=8)
    return save_figure(figure, path)


def format_table(result: dict) -> str:
    lines = [f'"{result["question"]}"  participants: {result["participants"]}, '
             f'excluded: {len(result["excluded_participants"])} ({result["exclusion"]})',
             f'{"":<48} {"%":>6}  {"95% CI":>13}  {"n":>5}']
    for row in result["rows"]:
        label = f'Prefer {row["prefer"]} over {row["over"]}'
        percent = f'{row["percent"]:.1f}' if row["percent"] is not None else "-"
        lines.append(f'{label:<48} {percent:>6}  {row["ci95"][0]:>5.1f}-{row["ci95"][1]:<5.1f}  {row["n"]:>5}')
    return "\n".join(lines)
