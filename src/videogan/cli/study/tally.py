"""`videogan study tally`: preference per pair of sources (Table 1) and the catch-trial exclusions."""
from __future__ import annotations

import json
from pathlib import Path

from ...files import write_atomic
from ...tasks.study.tally import format_table, preference_bars, tally


def run(args) -> None:
    result = tally(args.study, args.answers or [], args.max_catch_failures)
    if args.label:
        result["label"] = args.label
    for problem in result["problems"]:
        print(f"warning: {problem}")
    if result["bad_lines_left_out"]:
        print(f"note: {result['bad_lines_left_out']} bad answer lines left out (listed above)")
    if result["fast_answers_left_out"]:
        print(f"note: {result['fast_answers_left_out']} fast answers left out ({result['fast']})")
    if result["duplicates_left_out"]:
        print(f"note: {result['duplicates_left_out']} duplicate answers (same participant and trial) left out")
    print(format_table(result))
    folder = Path(args.study)
    path = folder / "tally.json"
    write_atomic(path, json.dumps(result, indent=2) + "\n")
    title = f'"{result["question"]}"' + (f"\n{args.label}" if args.label else "")
    chart = preference_bars(folder / "tally.png", result["rows"], title)
    print(f"wrote {path} and {chart}")


def add_arguments(parser) -> None:
    parser.add_argument("study", help="study folder")
    parser.add_argument("--answers", nargs="*", metavar="FILE",
                        help="answer files downloaded from pages opened without the server (added to answers.jsonl)")
    parser.add_argument("--max-catch-failures", type=int, default=0,
                        help="a participant who chose noise in more catch trials than this is left out")
    parser.add_argument("--label", default="", help="a label written into tally.json and the chart's title "
                                                   "(e.g. SIMULATED for a scripted participant)")
