"""`videogan report RUN`: one static page per run, RUN/report.html, to open in any browser.

It shows the training curves from stats.jsonl, the fixed-z samples over training as a time line, the
final videos with their background, foreground and mask streams (the paper's Figure 3), the resolved
config and any `evaluate` results. Pictures are files beside the page (report/, samples/), linked by
relative paths: the folder can be copied or served as it is, and nothing is fetched from elsewhere.
`videogan train` writes it when it finishes, so a resumed run's page is brought up to date.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import torch

from ..figures import new_figure, save_figure
from ..files import write_atomic
from ..train.checkpoint import list_checkpoints
from .sample import generate, load_sampler, write_grids

# (file, title, y label, the stats.jsonl keys drawn: a regular expression)
CURVES = (
    ("losses.png", "Losses", "loss", r"loss_.*|first_frame"),
    ("d_outputs.png", "Discriminator outputs: D(real) and D(fake)", "mean sigmoid output", r"d_real|d_fake"),
    ("mask.png", "Mask mean (two-stream)", "mean of m(z)", r"mask_mean"),
    ("speed.png", "Training speed", "videos / s", r"videos_per_s"),
)
STREAMS = (("background.png", "background b(z)"), ("foreground.gif", "foreground f(z)"), ("mask.gif", "mask m(z)"),
           ("foreground_masked.gif", "m ⊙ f"), ("videos.gif", "video"))
EVAL_FIELDS = ("iteration", "n", "fvd", "fvd_real_floor", "flicker", "flicker_real", "motion_energy",
               "motion_energy_real", "motion_w1", "colour_w1")


def read_stats(path: Path) -> list[dict]:
    """stats.jsonl's records; a torn last line (a run killed mid-write) is left out."""
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def draw_curves(records: list[dict], out: Path) -> list[tuple[Path, str]]:
    """One PNG per group of statistics the run logged: [(path, title)]."""
    drawn = []
    for name, title, y_label, keys in CURVES:
        series = sorted({k for r in records for k in r if re.fullmatch(keys, k)})
        if not series:
            continue
        figure = new_figure(5.3, 3.3)
        axes = figure.add_subplot()
        for key in series:
            points = [(r["iteration"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
            axes.plot(*zip(*points), label=key, linewidth=1.2)
        axes.set_xlabel("iteration")
        axes.set_ylabel(y_label)
        axes.set_title(title, fontsize=10)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
        drawn.append((save_figure(figure, out / name), title))
    return drawn


def final_streams(run_dir: Path, out: Path, n: int = 16, seed: int = 0) -> tuple[Path, int] | None:
    """The streams of the latest checkpoint's generator (16 fixed codes), drawn once per checkpoint."""
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        return None
    iteration = int(re.search(r"(\d+)\.pt$", checkpoints[-1].name).group(1))
    folder = out / f"streams-{iteration:07d}"
    if not (folder / "videos.gif").exists():
        sampler = load_sampler(checkpoints[-1], "cpu")
        parts = generate(sampler.generator, sampler.draw_codes(n, torch.Generator().manual_seed(seed)))
        write_grids(parts, folder, formats=("gif",), scale=2)
    return folder, iteration


def _figure(src: str, caption: str, show_caption: bool = True) -> str:
    shown = f"<figcaption>{html.escape(caption)}</figcaption>" if show_caption else ""
    return f'<figure><img src="{html.escape(src)}" alt="{html.escape(caption)}">{shown}</figure>'



def _eval_table(results: list[tuple[str, dict]]) -> str:
    fields = [f for f in EVAL_FIELDS if any(f in r for _, r in results)]
    head = "".join(f"<th>{f}</th>" for f in ["file", *fields])
    rows = "".join("<tr>" + f"<td>{html.escape(name)}</td>" + "".join(
        f"<td>{r[f]:.4g}</td>" if isinstance(r.get(f), float) else f"<td>{html.escape(str(r.get(f, '')))}</td>"
        for f in fields) + "</tr>" for name, r in results)
    return f"<table><tr>{head}</tr>{rows}</table>"


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1400px; padding: 16px; color: #222; }}
h2 {{ border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; text-align: center; }}
figcaption {{ font-size: .85rem; color: #555; }}
.pixels img {{ image-rendering: pixelated; width: 256px; }}
.timeline img {{ image-rendering: pixelated; width: 160px; }}
pre {{ background: #f6f6f6; padding: 8px; overflow: auto; max-height: 420px; font-size: .8rem; }}
table {{ border-collapse: collapse; font-size: .85rem; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
.empty {{ color: #888; }}
</style></head><body>
<h1>{title}</h1>
<p>{summary}</p>
{sections}
</body></html>
"""


def write_report(run_dir: str | Path, generate_streams: bool = True) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    out = run_dir / "report"
    records = read_stats(run_dir / "stats.jsonl")
    sections = []

    curves = draw_curves(records, out)
    sections.append("<h2>Training curves</h2>" + ('<div class="grid">' + "".join(
        _figure(p.relative_to(run_dir).as_posix(), t, False) for p, t in curves) + "</div>" if curves
        else '<p class="empty">no stats.jsonl records yet</p>'))

    # ITERATION_videos.gif (a GAN), ITERATION_KIND_videos.gif (the baseline's reconstructions, real clips, ...)
    samples = sorted((int(m[1]), m[2] or "", p) for p in (run_dir / "samples").glob("*videos.gif")
                     if (m := re.fullmatch(r"(\d+)_(?:(.+)_)?videos\.gif", p.name)))
    sections.append("<h2>Fixed-z samples over training</h2>" + ('<div class="grid timeline">' + "".join(
        _figure(p.relative_to(run_dir).as_posix(), f"iteration {i} {kind}".strip()) for i, kind, p in samples)
        + "</div>" if samples else '<p class="empty">no samples yet (written every --sample-every iterations)</p>'))

    try:
        streams = final_streams(run_dir, out) if generate_streams else None
    except ValueError as err:  # a checkpoint with no unconditional generator (the future task): no streams
        streams = None
        sections.append(f'<h2>Final videos and their streams</h2><p class="empty">{html.escape(str(err))}</p>')
    if streams:
        folder, iteration = streams
        figures = [_figure((folder / f).relative_to(run_dir).as_posix(), c) for f, c in STREAMS if (folder / f).exists()]
        sections.append(f"<h2>Final videos and their streams (iteration {iteration}; Figure 3's layout)</h2>"
                        f'<div class="grid pixels">{"".join(figures)}</div>')

    results = [(p.name, json.loads(p.read_text())) for p in sorted(run_dir.glob("eval-*.json"))]
    if results:
        sections.append("<h2>Evaluation</h2>" + _eval_table(results) + "".join(
            f"<details><summary>{html.escape(name)}</summary><pre>{html.escape(json.dumps(r, indent=2))}</pre></details>"
            for name, r in results))

    config = run_dir / "config.json"
    sections.append("<h2>Config</h2>" + (f"<pre>{html.escape(config.read_text())}</pre>" if config.exists()
                                          else '<p class="empty">no config.json</p>'))
    last = records[-1] if records else {}
    summary = (f"{len(records)} log records; last at iteration {last.get('iteration')}" if records
               else "no training statistics yet")
    page = PAGE.format(title=html.escape(f"videogan run: {run_dir.resolve().name}"), summary=html.escape(summary),
                       sections="\n".join(sections))
    return write_atomic(run_dir / "report.html", page)


def run(args) -> None:
    print(f"wrote {write_report(args.run, not args.no_streams)}")


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="a static HTML page of a run: curves, samples, streams, config")
    parser.add_argument("run", help="run folder")
    parser.add_argument("--no-streams", action="store_true",
                        help="do not draw the final streams from the latest checkpoint")
    parser.set_defaults(func=run)
