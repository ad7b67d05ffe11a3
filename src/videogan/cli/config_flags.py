"""Command-line flags generated from the config dataclasses: every field becomes --field-name, with the help
text and range its `setting` declares."""
from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing

from ..config import PRESETS, RunConfig, default_preset, get_preset, range_problem, replace


def _scalar_type(tp):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0]
    return tp


INT64 = 2 ** 63  # what torch and numpy hold: a larger integer would fail far from the flag that gave it


def number_type(tp: type, name: str, low=None, high=None):
    """argparse's `type` for an int or float flag: a finite value that fits in 64 bits, low <= value < high
    (`name`: the field or option the range is of), so that a value the command cannot use is refused with a
    line naming its flag before anything runs."""
    def parse(text: str):
        try:
            value = tp(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"expected {'an integer' if tp is int else 'a number'}, got {text!r}")
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if tp is int and not -INT64 <= value < INT64:
            raise argparse.ArgumentTypeError(f"{text} does not fit in 64 bits")
        if problem := range_problem(name, value, low, high):
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = tp.__name__
    parse.number = tp  # the flag's kind, for tests that generate its values
    return parse


def check_number_flags(parser: argparse.ArgumentParser) -> None:
    """Give every int and float flag of `parser` and its subcommands `number_type`'s checks (a seed must also
    be >= 0: numpy refuses a negative one). The one place every command's numbers are parsed, whichever
    module declared the flag."""
    for action in parser._actions:
        if isinstance(action.choices, dict):  # subcommands
            for sub in action.choices.values():
                check_number_flags(sub)
        elif action.type in (int, float):
            low = 0 if action.dest.endswith("seed") else None
            action.type = number_type(action.type, action.option_strings[-1].lstrip("-"), low=low)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _help(f: dataclasses.Field) -> str:
    """A flag's help: the field's text and its range."""
    rule = f.metadata
    text = rule.get("help", "")
    bounds = [f">= {rule['low']}" if rule.get("low") is not None else "",
              f"< {rule['high']}" if rule.get("high") is not None else ""]
    if any(bounds):
        text += f" ({', '.join(b for b in bounds if b)})"
    return text.replace("%", "%%")


def add_config_arguments(parser: argparse.ArgumentParser, config_cls=RunConfig, presets=None,
                         sections: tuple[str, ...] | None = None) -> None:
    """Add --preset (one of `presets`, default all of PRESETS) and one flag per config field of `sections`
    (default: all), each with the help text and choices its `setting` declares (all default to None: the
    preset decides; the dataclasses check the values, so the CLI refuses what the Python API refuses)."""
    names = list(presets or PRESETS)
    default = "cpu" + (", or future-cpu with --task future" if "future-cpu" in names else "")
    parser.add_argument("--preset", default=None, metavar="{" + ",".join(names) + "}",
                        help=f"starting configuration (default: {default}); the flags below change its values")
    for section in dataclasses.fields(config_cls):
        if sections is not None and section.name not in sections:
            continue
        sub_cls = typing.get_type_hints(config_cls)[section.name]
        group = parser.add_argument_group(f"{section.name} config")
        hints = typing.get_type_hints(sub_cls)
        for f in dataclasses.fields(sub_cls):
            tp = _scalar_type(hints[f.name])
            help = _help(f)
            if tp is bool:
                group.add_argument(_flag(f.name), dest=f"{section.name}.{f.name}", default=None, help=help,
                                   action=argparse.BooleanOptionalAction)
            else:
                choices = f.metadata.get("choices")
                metavar = "{" + ",".join(choices) + "}" if choices else tp.__name__.upper()
                if tp in (int, float):
                    tp = number_type(tp, f.name, f.metadata.get("low"), f.metadata.get("high"))
                group.add_argument(_flag(f.name), dest=f"{section.name}.{f.name}", type=tp, default=None,
                                   metavar=metavar, help=help)


def config_from_args(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """The preset (or `base`) with every flag the user gave applied on top."""
    config = base if base is not None else get_preset(args.preset or default_preset(getattr(args, "model.task", None)))
    updates: dict[str, dict] = {}
    for key, value in vars(args).items():
        if "." in key and value is not None:
            section, name = key.split(".", 1)
            updates.setdefault(section, {})[name] = value
    return replace(config, **updates)
