"""`videogan describe`: every network's layers, output shapes and parameter counts."""
from __future__ import annotations

import json

import torch
from torch import nn

from ..config import add_config_arguments, config_from_args
from . import VideoDiscriminator, build_generator, generator_inputs


def layer_table(module: nn.Module, example: torch.Tensor | tuple) -> list[dict]:
    """One row per leaf layer that has parameters or changes the shape: name, type, output shape, params."""
    rows: list[dict] = []
    hooks = []
    for name, layer in module.named_modules():
        if list(layer.children()):
            continue

        def record(layer, _inputs, output, name=name):
            rows.append({"layer": name, "type": type(layer).__name__, "output": list(output.shape[1:]),
                         "params": sum(p.numel() for p in layer.parameters())})

        hooks.append(layer.register_forward_hook(record))
    try:
        with torch.no_grad():
            module.eval()(*(example if isinstance(example, tuple) else (example,)))
    finally:
        for hook in hooks:
            hook.remove()
    return rows


def describe(config) -> dict:
    cfg = config.model
    generator, discriminator = build_generator(cfg), VideoDiscriminator(cfg)
    video = torch.zeros(1, 3, cfg.frames, cfg.size, cfg.size)
    g_input = generator_inputs(cfg, torch.Generator().manual_seed(0), 1, video)  # z, or the first frame
    out = {}
    for name, net, example in (("generator", generator, g_input), ("discriminator", discriminator, video)):
        out[name] = {"params": sum(p.numel() for p in net.parameters()), "layers": layer_table(net, example)}
    return out


def _print_table(name: str, table: dict) -> None:
    print(f"{name}: {table['params']:,} parameters")
    print(f"  {'layer':<28} {'type':<18} {'output (c t h w)':<22} {'params':>10}")
    for row in table["layers"]:
        shape = "x".join(str(s) for s in row["output"])
        print(f"  {row['layer']:<28} {row['type']:<18} {shape:<22} {row['params']:>10,}")


def run(args) -> None:
    config = config_from_args(args)
    tables = describe(config)
    if args.json:
        print(json.dumps({"config": config.to_dict(), **tables}, indent=2))
        return
    for name, table in tables.items():
        _print_table(name, table)


def register(subparsers) -> None:
    parser = subparsers.add_parser("describe", help="print each network's layers, shapes and parameter counts")
    add_config_arguments(parser, sections=("model",))
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)
