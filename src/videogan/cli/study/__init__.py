"""`videogan study make|serve|tally`: the paper's two-alternative forced-choice study (section 3.2,
Table 1) as a static site, a small server that records answers, and the tally with its exclusions."""
from __future__ import annotations

import importlib

COMMANDS = {
    "make": ("make", "build the study's site: balanced pairs of videos from every pair of sources, catch trials"),
    "serve": ("serve", "serve the study and append each answer to answers.jsonl"),
    "tally": ("tally", "preference per pair of sources with 95%% intervals (Table 1), catch-trial exclusions"),
}


def register(subparsers) -> None:
    parser = subparsers.add_parser("study", help="two-alternative forced-choice study with people (Table 1)")
    commands = parser.add_subparsers(dest="study_command", required=True, metavar="COMMAND")
    for name, (module, help) in COMMANDS.items():
        command = importlib.import_module(f"{__name__}.{module}")
        sub = commands.add_parser(name, help=help)
        command.add_arguments(sub)
        sub.set_defaults(func=command.run)
