"""The `videogan` command line: thin entry points over the library.

Each command lives in the module that owns its concept and exposes `register(subparsers)`, which adds
its parser and sets `func` (called with the parsed arguments; returns an exit code or None). Only the
module of the command being run is imported (torch and friends take seconds to load), so `videogan --help`
and a mistyped command answer at once.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .cpu_threads import apply_wait_policy
from .files import OutputError, check_not_an_input, check_writable

# name: (module whose register() adds the command, help in the command list); tests/test_cli.py checks that
# each help matches the one its module registers
COMMANDS = {
    "describe": ("videogan.models.describe", "print each network's layers, shapes and parameter counts"),
    "train": ("videogan.train.loop", "train the video GAN (default data: the built-in dataset)"),
    "sample": ("videogan.tasks.sample", "generate videos (and the two-stream model's streams)"),
    "recognize": ("videogan.tasks.recognition", "action recognition from the discriminator (Figure 4)"),
    "prepare": ("videogan.data.prepare", "decode, stabilize and cut videos into training clips"),
    "weights": ("videogan.eval.weights", "download and convert pretrained weights (I3D for FVD)"),
    "fvd": ("videogan.eval.fvd_cli", "Fréchet Video Distance between two sets of videos"),
    "evaluate": ("videogan.eval.evaluate", "FVD and diagnostics of a generator against real videos"),
    "baseline": ("videogan.tasks.baseline", "the paper's autoencoder + Gaussian mixture baseline"),
    "predict": ("videogan.tasks.future", "a video of the future of each still image (--task future model)"),
    "visualize-units": ("videogan.tasks.units",
                        "the encoder units of a future model most selective on a folder of images"),
    "classifier": ("videogan.eval.classifier_train",
                   "the built-in dataset's shape and motion classifier (for the builtin_score metric)"),
    "study": ("videogan.tasks.study", "two-alternative forced-choice study with people (Table 1)"),
    "report": ("videogan.tasks.report", "a static HTML page of a run: curves, samples, streams, config"),
}


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit code 2, no traceback."""


def _command_in(argv: list[str]) -> str | None:
    """The command named on the command line (the first word that is not an option)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(command: str | None = "all") -> argparse.ArgumentParser:
    """The parser with every command listed; only `command`'s module is imported to add its options
    (every module's with "all", none with None)."""
    parser = argparse.ArgumentParser(prog="videogan", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"videogan {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help) in COMMANDS.items():
        if command in (name, "all"):
            importlib.import_module(module).register(subparsers)
        else:
            subparsers.add_parser(name, help=help)
    return parser


def main(argv: list[str] | None = None) -> int:
    if "torch" not in sys.modules:  # the command modules import torch; OpenMP reads its policy then
        apply_wait_policy()
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_command_in(argv)).parse_args(argv)
    try:
        if getattr(args, "out", None):  # every command's output, before it starts working
            is_file = getattr(args, "out_is_file", False)
            check_writable(args.out, is_file=is_file)
            if is_file:  # every other string argument may name a file the command reads
                given = [value for name, value in vars(args).items() if name != "out" and isinstance(value, str)]
                check_not_an_input(args.out, inputs=given)
        return int(args.func(args) or 0)
    except (UserError, OutputError, OSError, ValueError) as err:
        # ValueError covers ConfigError and the clear errors raised by loaders and checkpoints; OutputError and
        # OSError a full disk, a folder that became read-only, another writer holding the folder.
        print(f"videogan {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
