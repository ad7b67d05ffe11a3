"""Line plots with error bars drawn with Pillow (the project does not depend on matplotlib)."""
from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"finetune": (214, 39, 40), "random": (31, 119, 180), "probe": (44, 160, 44), "ratio": (148, 103, 189)}
LABELS = {"finetune": "VGAN + Fine Tune", "random": "VGAN + Random Init", "probe": "VGAN + Logistic Reg",
          "ratio": "Fine Tune / Random Init"}


def line_plot(path: str | Path, x_labels: list[str], series: dict[str, list[tuple[float, float] | None]],
              title: str, y_label: str, x_title: str, reference: float | None = None, size=(640, 440)) -> Path:
    """One line per series over evenly spaced x positions; each point (mean, spread) with an error bar of
    +- spread; None skips a point. `reference` draws a dashed horizontal line (e.g. ratio 1)."""
    width, height = size
    left, right, top, bottom = 70, 20, 40, 70
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    points = [p for values in series.values() for p in values if p is not None]
    lows = [m - s for m, s in points] + ([reference] if reference is not None else [])
    highs = [m + s for m, s in points] + ([reference] if reference is not None else [])
    lo, hi = min(lows, default=0.0), max(highs, default=1.0)
    pad = max((hi - lo) * 0.08, 1e-3)
    lo, hi = lo - pad, hi + pad

    def xy(i, value):
        x = left + (i + 0.5) * (width - left - right) / max(len(x_labels), 1)
        y = top + (hi - value) / (hi - lo) * (height - top - bottom)
        return x, y

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    step = 10 ** math.floor(math.log10((hi - lo) / 4)) if hi > lo else 0.1
    step *= next(m for m in (1, 2, 5, 10) if (hi - lo) / (step * m) <= 6)
    tick = math.ceil(lo / step) * step
    while tick <= hi:
        _, y = xy(0, tick)
        draw.line([left - 4, y, left, y], fill="black")
        draw.line([left, y, width - right, y], fill=(230, 230, 230))
        draw.text((6, y - 6), f"{tick:.3g}", fill="black")
        tick += step
    for i, label in enumerate(x_labels):
        x, _ = xy(i, lo)
        draw.line([x, height - bottom, x, height - bottom + 4], fill="black")
        draw.text((x - 3 * len(label), height - bottom + 8), label, fill="black")
    if reference is not None:
        _, y = xy(0, reference)
        for x in range(left, width - right, 12):
            draw.line([x, y, x + 6, y], fill=(120, 120, 120))
    for n, (name, values) in enumerate(series.items()):
        colour = COLOURS.get(name, (0, 0, 0))
        previous = None
        for i, point in enumerate(values):
            if point is None:
                previous = None
                continue
            mean, spread = point
            x, y = xy(i, mean)
            _, y_lo = xy(i, mean - spread)
            _, y_hi = xy(i, mean + spread)
            draw.line([x, y_lo, x, y_hi], fill=colour)
            draw.line([x - 4, y_lo, x + 4, y_lo], fill=colour)
            draw.line([x - 4, y_hi, x + 4, y_hi], fill=colour)
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
            if previous:
                draw.line([previous, (x, y)], fill=colour, width=2)
            previous = (x, y)
        draw.line([left + 10, top + 10 + 14 * n, left + 30, top + 10 + 14 * n], fill=colour, width=2)
        draw.text((left + 36, top + 4 + 14 * n), LABELS.get(name, name), fill="black")
    draw.text((left, 4), title, fill="black")
    draw.text((left + (width - left - right) // 2 - 3 * len(x_title), height - 30), x_title, fill="black")
    draw.text((6, top - 14), y_label, fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
