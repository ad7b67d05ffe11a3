"""Figure 4's line plots with error bars, drawn with matplotlib."""
from __future__ import annotations

from pathlib import Path

from ...figures import new_figure, save_figure

COLOURS = {"finetune": "#d62728", "random": "#1f77b4", "probe": "#2ca02c", "ratio": "#9467bd"}
LABELS = {"finetune": "VGAN + Fine Tune", "random": "VGAN + Random Init", "probe": "VGAN + Logistic Reg",
          "ratio": "Fine Tune / Random Init"}


def line_plot(path: str | Path, x_labels: list[str], series: dict[str, list[tuple[float, float] | None]],
              title: str, y_label: str, x_title: str, reference: float | None = None, size=(640, 440)) -> Path:
    """One line per series over evenly spaced x positions; each point (mean, spread) with an error bar of
    +- spread; None skips a point (and breaks the line). `reference` draws a dashed horizontal line."""
    figure = new_figure(size[0] / 100, size[1] / 100)
    axes = figure.add_subplot()
    for name, values in series.items():
        means = [p[0] if p is not None else float("nan") for p in values]
        spreads = [p[1] if p is not None else float("nan") for p in values]
        axes.errorbar(range(len(values)), means, yerr=spreads, color=COLOURS.get(name, "black"),
                      label=LABELS.get(name, name), marker="o", markersize=4, capsize=4, linewidth=1.5)
    if reference is not None:
        axes.axhline(reference, color="grey", linestyle="--", linewidth=1)
    axes.set_xticks(range(len(x_labels)), x_labels)
    axes.set_xlabel(x_title)
    axes.set_ylabel(y_label)
    axes.set_title(title, fontsize=11)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return save_figure(figure, path)
