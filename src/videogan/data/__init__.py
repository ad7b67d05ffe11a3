"""Datasets: the built-in moving-objects set, and the user's own video (see `videogan prepare`).

Every dataset yields dicts with `video` (3 t h w float in [-1, 1]) and `label` (int, -1 if none).
"""
from __future__ import annotations

from torch.utils.data import Dataset

from ..config import DataConfig, ModelConfig
from .synthetic import MovingObjects


def build_dataset(data: DataConfig, model: ModelConfig) -> Dataset:
    """The training set a config names, with clips adapted to the model's frames and size."""
    if data.data == "synthetic":
        return MovingObjects(model.frames, model.size, seed=data.data_seed, max_objects=data.max_objects,
                             object_scale=data.object_scale)
    from .formats import open_dataset  # real video: decoders are imported only when needed

    return open_dataset(data.data, data.data_format, frames=model.frames, size=model.size, seed=data.data_seed,
                        root=data.data_root or None)
