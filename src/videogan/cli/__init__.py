"""The `videogan` command line: thin entry points over the library.

Every command's parsing and printing lives in this package, one module per command or group, which
exposes `register(subparsers)`: it adds the command's parser and sets `func` (called with the parsed
arguments; returns an exit code or None). The library below never imports this package. Only the module
of the command being run is imported (torch and friends take seconds to load), so `videogan --help` and
a mistyped command answer at once.
"""
from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import traceback

from .. import __version__
from ..errors import UserError
from ..files import OutputError, check_not_an_input, check_writable
from .config_flags import check_number_flags

# name: (module whose register() adds the command, help in the command list); tests/test_cli.py checks that
# each help matches the one its module registers
COMMANDS = {
    "describe": ("videogan.cli.describe", "print each network's layers, shapes and parameter counts"),
    "train": ("videogan.cli.train", "train the video GAN (default data: the built-in dataset)"),
    "sample": ("videogan.cli.sample", "generate videos (and the two-stream model's streams)"),
    "recognize": ("videogan.cli.recognize", "action recognition from the discriminator (Figure 4)"),
    "prepare": ("videogan.cli.prepare", "decode, stabilize and cut videos into training clips"),
    "weights": ("videogan.cli.weights", "download and convert pretrained weights (I3D for FVD)"),
    "fvd": ("videogan.cli.fvd", "Fréchet Video Distance between two sets of videos"),
    "evaluate": ("videogan.cli.evaluate", "FVD and diagnostics of a generator against real videos"),
    "baseline": ("videogan.cli.baseline", "the paper's autoencoder + Gaussian mixture baseline"),
    "predict": ("videogan.cli.predict", "a video of the future of each still image (--task future model)"),
    "visualize-units": ("videogan.cli.visualize_units",
                        "the encoder units of a future model most selective on a folder of images"),
    "classifier": ("videogan.cli.classifier",
                   "the built-in dataset's shape and motion classifier (for the builtin_score metric)"),
    "study": ("videogan.cli.study", "two-alternative forced-choice study with people (Table 1)"),
    "report": ("videogan.cli.report", "a static HTML page of a run: curves, samples, streams, config"),
}


def _command_in(argv: list[str]) -> str | None:
    """The command named on the command line (the first word that is not an option)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


class OneLineErrors(argparse.ArgumentParser):
    """argparse's parser with the project's form of error: one line naming the flag, exit 2 (argparse
    prints its usage block first; --help shows it). Subcommands' parsers are of the same class."""

    def error(self, message: str):  # argparse echoes the user's words ("unrecognized arguments: ...")
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def build_parser(command: str | None = "all") -> argparse.ArgumentParser:
    """The parser with every command listed; only `command`'s module is imported to add its options
    (every module's with "all", none with None)."""
    parser = OneLineErrors(prog="videogan", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"videogan {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help) in COMMANDS.items():
        if command in (name, "all"):
            importlib.import_module(module).register(subparsers)
        else:
            subparsers.add_parser(name, help=help)
    check_number_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(_command_in(argv)).parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error already printed in one line
        return done.code if isinstance(done.code, int) else 2
    try:
        if getattr(args, "out", None):  # every command's output, before it starts working
            is_file = getattr(args, "out_is_file", False)
            check_writable(args.out, is_file=is_file)
            if is_file:  # every other string argument may name a file the command reads
                given = [value for name, value in vars(args).items() if name != "out" and isinstance(value, str)]
                check_not_an_input(args.out, inputs=given)
        return int(args.func(args) or 0)
    except BaseException as err:  # the one error boundary of every command
        return _report(args.command, argv, err)


def _report(command: str, argv: list[str], err: BaseException) -> int:
    """An expected failure (the user's input, the machine's limits) as one line and exit 2 (an interrupt:
    130, as a shell reports it); anything else is a bug: its traceback and where to report it, exit 1."""
    if isinstance(err, (SystemExit, GeneratorExit)):
        raise err
    if isinstance(err, KeyboardInterrupt):  # training turns a first Ctrl-C into a checkpoint; this is any other
        print(f"videogan {command}: interrupted", file=sys.stderr)
        return 130
    if isinstance(err, (_torch_out_of_memory(), MemoryError)):
        print(f"videogan {command}: error: out of memory ({type(err).__name__}: {_one_line(err)}); give "
              "smaller --batch-size, --size, --frames or widths, or a machine with more memory", file=sys.stderr)
        return 2
    if isinstance(err, (UserError, OutputError, OSError, ValueError)):
        # ValueError covers ConfigError and the clear errors raised by loaders and checkpoints; OutputError and
        # OSError a full disk, a folder that became read-only, another writer holding the folder.
        print(f"videogan {command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    traceback.print_exception(err)
    print(f"videogan {command}: internal error ({type(err).__name__}): this is a bug; please report it on the "
          f"videogan issue tracker with the traceback above, the command line (videogan {shlex.join(argv)}) "
          f"and the version (videogan {__version__})", file=sys.stderr)
    return 1


def one_line(text: str) -> str:
    """`text` as one line of a terminal: a library's lines joined; what is left that is not printable (a
    carriage return, an escape sequence, a right-to-left override in a file name or argument) written as
    its escape, so that it can neither break the line nor rewrite what the terminal shows."""
    joined = " ".join(line.strip() for line in text.split("\n") if line.strip())
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in joined)


def _one_line(err: BaseException) -> str:
    return one_line(str(err)) or type(err).__name__


def _torch_out_of_memory() -> type:
    """torch's out-of-memory error when torch is loaded (a command that never imported it cannot raise it)."""
    torch = sys.modules.get("torch")
    return getattr(torch, "OutOfMemoryError", MemoryError) if torch else MemoryError
