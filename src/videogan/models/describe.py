"""Every network's layers, output shapes and parameter counts."""
from __future__ import annotations

import torch
from torch import nn

from ..config import ConfigError
from . import VideoDiscriminator, build_generator


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


def network_tables(cfg) -> dict:
    """G's and D's parameter counts and layer tables, built on the meta device: shapes without allocating,
    so that any configuration can be described (and its memory estimated, models/memory.py)."""
    try:
        with torch.device("meta"):
            generator, discriminator = build_generator(cfg), VideoDiscriminator(cfg)
            video = torch.zeros(1, 3, cfg.frames, cfg.size, cfg.size)  # 1 3 t h w
            g_input = (torch.zeros(1, cfg.z_dim),) if cfg.task == "video" else (video[:, :, 0],)  # z, or the first frame
            if cfg.task == "future" and cfg.noise_dim:
                g_input += (torch.zeros(1, cfg.noise_dim),)
            out = {}
            for name, net, example in (("generator", generator, g_input), ("discriminator", discriminator, video)):
                out[name] = {"params": sum(p.numel() for p in net.parameters()), "layers": layer_table(net, example)}
    except (RuntimeError, TypeError, OverflowError) as err:  # on the meta device: only sizes beyond 64 bits
        raise ConfigError(f"a tensor of this configuration has more elements than torch can count "
                          f"({str(err).splitlines()[0][:120]}); give smaller --frames, --size, --z-dim, --g-width or "
                          "--d-width") from None
    return out


def describe(config) -> dict:
    return network_tables(config.model)
