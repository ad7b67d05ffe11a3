"""The report's plots against iteration: the training curves of stats.jsonl (PNG files) and the
evaluations' metrics (inline SVG: every point is a marker in the page, which a test can count)."""
from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib

from ..eval.metrics import METRIC_KEYS
from ..eval.results import finite_number
from ..figures import new_figure, save_figure
from .report_files import Evaluation

# (file, title, y label, the stats.jsonl keys drawn: a regular expression of plain names, which matplotlib
# cannot read as markup)
CURVES = (
    ("losses.png", "Losses", "loss", r"loss_\w*|first_frame"),
    ("d_outputs.png", "Discriminator outputs: D(real) and D(fake)", "mean sigmoid output", r"d_real|d_fake"),
    ("mask.png", "Mask mean (two-stream)", "mean of m(z)", r"mask_mean"),
    ("speed.png", "Training speed", "videos / s", r"videos_per_s"),
)
# reference values drawn dashed beside what they are read against
REFERENCES = re.compile(r".*_real|fvd_real_floor")


def _axes(figure, title: str, y_label: str, x_range: tuple[float, float]):
    axes = figure.add_subplot()
    axes.set_xlabel("iteration")
    axes.set_ylabel(y_label)
    axes.set_title(title, fontsize=10)
    axes.set_xlim(*x_range)
    axes.grid(alpha=0.3)
    return axes


def draw_curves(records: list[dict], out: Path, x_range: tuple[float, float]) -> list[tuple[Path, str]]:
    """One PNG per group of statistics the run logged, over `x_range`: [(path, title)]."""
    drawn = []
    for name, title, y_label, keys in CURVES:
        series = sorted({k for r in records for k in r if re.fullmatch(keys, k)})
        points = {key: sorted((r["iteration"], v) for r in records if (v := finite_number(r.get(key))) is not None)
                  for key in series}
        if not any(points.values()):
            continue
        figure = new_figure(5.3, 3.3)
        axes = _axes(figure, title, y_label, x_range)
        for key, xy in points.items():
            if xy:
                axes.plot(*zip(*xy), label=key, linewidth=1.2)
        axes.legend(fontsize=8)
        drawn.append((save_figure(figure, out / name), title))
    return drawn


def draw_metrics(evaluations: list[Evaluation], x_range: tuple[float, float]) -> list[tuple[str, str, dict[str, int]]]:
    """One SVG per registered metric that some evaluation measured: [(metric, svg text, {key: points})].
    Each key's line has the SVG id metric-KEY and one marker per evaluation that measured it."""
    drawn = []
    for metric, keys in METRIC_KEYS.items():
        points = {key: [(e.iteration, e.numbers[key]) for e in evaluations if e.numbers.get(key) is not None]
                  for key in keys}
        points = {key: xy for key, xy in points.items() if xy}
        if not points:
            continue
        figure = new_figure(3.9, 2.9)
        axes = _axes(figure, metric, "value", x_range)
        for key, xy in points.items():
            line, = axes.plot(*zip(*xy), marker="o", markersize=4, linewidth=1.2, label=key,
                              linestyle="--" if REFERENCES.fullmatch(key) else "-")
            line.set_gid(f"metric-{key}")
        axes.legend(fontsize=7)
        svg = io.StringIO()
        # ids inside each SVG salted with its metric: several of them share the page without clashes
        with matplotlib.rc_context({"svg.hashsalt": metric}):
            figure.savefig(svg, format="svg", metadata={"Date": None})
        text = svg.getvalue()
        drawn.append((metric, text[text.index("<svg"):], {key: len(xy) for key, xy in points.items()}))
    return drawn
