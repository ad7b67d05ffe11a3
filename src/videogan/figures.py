"""Figures with matplotlib, for every plot of the project (recognition curves, run reports, study tallies).

Figures are built with the object API (`matplotlib.figure.Figure`) and saved by the Agg renderer: no
pyplot state, no display needed, safe in threads and on headless machines.
"""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from .files import write_atomic


def new_figure(width: float = 6.4, height: float = 4.4) -> Figure:
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save_figure(figure: Figure, path: str | Path) -> Path:
    """PNG, written atomically (a reader never sees half a file)."""
    return write_atomic(path, lambda f: figure.savefig(f, format="png"))
