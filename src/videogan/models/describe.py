"""Every network's layers, output shapes and parameter counts."""
from __future__ import annotations

import torch
from torch import nn

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
