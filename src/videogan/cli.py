"""The `videogan` command line: thin entry points over the library.

Each command lives in the module that owns its concept and exposes `register(subparsers)`, which adds
its parser and sets `func` (called with the parsed arguments; returns an exit code or None).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .cpu_threads import apply_wait_policy

COMMAND_MODULES = (
    "videogan.models.describe",  # describe
    "videogan.train.loop",  # train
    "videogan.tasks.sample",  # sample
    "videogan.tasks.recognition",  # recognize finetune|probe|sweep
    "videogan.data.prepare",  # prepare
    "videogan.eval.weights",  # weights
    "videogan.eval.fvd_cli",  # fvd
    "videogan.eval.evaluate",  # evaluate
    "videogan.tasks.baseline",  # baseline train / baseline sample
    "videogan.tasks.future",  # predict
    "videogan.tasks.units",  # visualize-units
)


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videogan", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"videogan {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    if "torch" not in sys.modules:  # the command modules import torch; OpenMP reads its policy then
        apply_wait_policy()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, FileNotFoundError, ValueError) as err:
        # ValueError covers ConfigError and the clear errors raised by loaders and checkpoints.
        print(f"videogan {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
