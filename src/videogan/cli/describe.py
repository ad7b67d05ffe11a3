"""`videogan describe`: every network's layers, output shapes and parameter counts."""
from __future__ import annotations

import json

import torch

from ..models.describe import describe
from ..models.memory import available_bytes, gib, training_bytes
from .config_flags import add_config_arguments, config_from_args


def _print_table(name: str, table: dict) -> None:
    print(f"{name}: {table['params']:,} parameters")
    print(f"  {'layer':<28} {'type':<18} {'output (c t h w)':<22} {'params':>10}")
    for row in table["layers"]:
        shape = "x".join(str(s) for s in row["output"])
        print(f"  {row['layer']:<28} {row['type']:<18} {shape:<22} {row['params']:>10,}")


def run(args) -> None:
    config = config_from_args(args)
    tables = describe(config)  # shapes only: no configuration is too large to describe
    needed = training_bytes(config)
    if args.json:
        print(json.dumps({"config": config.to_dict(), **tables, "training_bytes": needed}, indent=2))
        return
    for name, table in tables.items():
        _print_table(name, table)
    print(f"training needs about {gib(needed)} of memory at batch {config.train.batch_size} "
          f"({gib(available_bytes(torch.device('cpu')))} available on this machine)")


def register(subparsers) -> None:
    parser = subparsers.add_parser("describe", help="print each network's layers, shapes and parameter counts")
    add_config_arguments(parser, sections=("model",))
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)
