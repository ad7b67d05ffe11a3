"""`videogan report RUN`: one static page per run, RUN/report.html, to open in any browser.

It opens with a summary (what was trained on what, for how long, the best FVD against its real-vs-real
floor, the last samples), then the training curves from stats.jsonl beside every `evaluate` metric
against iteration, the evaluations' table, the fixed-z samples over training as a time line, the final
videos with their background, foreground and mask streams (the paper's Figure 3) and the config. Pictures
are files beside the page (report/, samples/), linked by relative paths, and the metric plots are inline
SVG: the folder can be copied or served as it is, and nothing is fetched from elsewhere. Every file read is
checked first (report_files.py): a bad line or file is left out with a note on the page and a warning.
`videogan train` writes the page when it finishes, so a resumed run's page is brought up to date.
"""
from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import torch

from ..config import PRESETS, RunConfig
from ..eval.metrics import METRIC_KEYS
from ..eval.results import finite_number
from ..files import write_atomic
from ..checkpoint import config_of, load_latest
from ..train.log import read_stats
from .report_files import ConfigCheck, Evaluation, check_config, read_evaluations
from .report_plots import draw_curves, draw_metrics
from ..models.sampler import generate, load_sampler
from ..train.media import write_grids

STREAMS = (("background.png", "background b(z)"), ("foreground.gif", "foreground f(z)"), ("mask.gif", "mask m(z)"),
           ("foreground_masked.gif", "m ⊙ f"), ("videos.gif", "video"))
SHOWN_NOTES = 50  # a stats.jsonl of a million bad lines still gives a page to read
WARNED_NOTES = 20


def final_streams(checkpoint: dict, out: Path, n: int = 16, seed: int = 0) -> tuple[Path, int]:
    """The streams of the checkpoint's generator (16 fixed codes), drawn once per checkpoint."""
    iteration = checkpoint["iteration"]
    folder = out / f"streams-{iteration:07d}"
    if not (folder / "videos.gif").exists():
        sampler = load_sampler(checkpoint["path"], "cpu")
        parts = generate(sampler.generator, sampler.draw_codes(n, torch.Generator().manual_seed(seed)))
        write_grids(parts, folder, formats=("gif",), scale=2)
    return folder, iteration


def latest_checkpoint(run_dir: Path) -> tuple[dict | None, str | None]:
    """The newest checkpoint that loads, with a config (None before the first one is written), and a note
    when none does."""
    try:
        return load_latest(run_dir), None  # its config checked there
    except FileNotFoundError:
        return None, None
    except ValueError as err:
        return None, str(err)


def closest_preset(config: RunConfig) -> tuple[str, list[str]]:
    """The preset the config differs least from, and the flags that make the difference."""
    def fields(c: RunConfig) -> dict:
        return {key: value for section in c.to_dict().values() for key, value in section.items()}

    mine = fields(config)
    changes = {name: [f"--{key.replace('_', '-')} {mine[key]}" for key, value in fields(preset).items()
                      if mine[key] != value] for name, preset in PRESETS.items()}
    name = min(changes, key=lambda n: len(changes[n]))
    return name, changes[name]


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _figure(src: str, caption: str, show_caption: bool = True) -> str:
    shown = f"<figcaption>{html.escape(caption)}</figcaption>" if show_caption else ""
    return f'<figure><img src="{html.escape(src)}" alt="{html.escape(caption)}">{shown}</figure>'


def _task(config: RunConfig, checkpoint: dict | None) -> str:
    model = config.model
    what = ("the autoencoder baseline (section 3.2)" if checkpoint and checkpoint.get("kind") == "baseline" else
            "future generation from a still image (section 3.4)" if model.task == "future" else
            f"video generation, {model.arch.replace('_', '-')} generator")
    return f"{what}; {model.frames} frames of {model.size}x{model.size}"


def _best_fvd(evaluations: list[Evaluation]) -> str:
    measured = [e for e in evaluations if e.numbers.get("fvd") is not None]
    if not measured:
        return "no FVD measured yet (<code>videogan evaluate RUN</code> writes one)"
    best = min(measured, key=lambda e: e.numbers["fvd"])
    floor = best.numbers.get("fvd_real_floor")
    against = (f"the real-vs-real floor at the same n, frames and size: <b>{floor:.1f}</b>" if floor is not None
               else "no floor measured")
    return (f'<b class="best-fvd">{best.numbers["fvd"]:.1f}</b> at iteration {best.iteration} '
            f"(n = {best.n}, {html.escape(best.name)}); {against}")


def _summary(config: RunConfig | None, checkpoint: dict | None, records: list[dict],
             evaluations: list[Evaluation], last_samples: list[str]) -> str:
    items = []
    if config is not None:
        preset, changes = closest_preset(config)
        items += [("task", html.escape(_task(config, checkpoint))),
                  ("preset", f"<code>{preset}</code>" + (" with " + " ".join(
                      f"<code>{html.escape(change)}</code>" for change in changes) if changes else "")),
                  ("data", html.escape(f"the built-in dataset (seed {config.data.data_seed})"
                                       if config.data.data == "synthetic" else config.data.data))]
    done = checkpoint["iteration"] if checkpoint else (records[-1]["iteration"] if records else 0)
    items.append(("iterations", f"{done}" + (f" of {config.train.iterations}" if config else "")
                  + ("" if checkpoint else " (no checkpoint yet)")))
    seconds = next((t for r in reversed(records) if (t := finite_number(r.get("time"))) is not None), None)
    items.append(("wall-clock time", f"{_duration(seconds)} of training (across resumes)" if seconds is not None
                  else "not logged yet"))
    items.append(("best FVD", _best_fvd(evaluations)))
    rows = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in items)
    samples = (f'<div class="grid timeline">{"".join(last_samples)}</div>' if last_samples
               else '<p class="empty">no samples yet</p>')
    return f'<section class="summary"><table class="facts">{rows}</table><h3>Last samples</h3>{samples}</section>'


def _cell(value: float | None) -> str:
    return f"<td>{value:.4g}</td>" if value is not None else '<td class="empty">–</td>'


def eval_table(evaluations: list[Evaluation]) -> str:
    """One row per evaluation; one column per key of the registered metrics that some evaluation holds,
    under its metric's name."""
    groups = [(metric, [k for k in keys if any(k in e.numbers for e in evaluations)]) for metric, keys in METRIC_KEYS.items()]
    groups = [(metric, keys) for metric, keys in groups if keys]
    head = ('<tr><th rowspan="2">file</th><th rowspan="2">iteration</th><th rowspan="2">n</th>'
            + "".join(f'<th colspan="{len(keys)}">{metric}</th>' for metric, keys in groups)
            + '<th rowspan="2">skipped</th></tr><tr>'
            + "".join(f'<th class="key">{key}</th>' for _, keys in groups for key in keys) + "</tr>")
    rows = "".join(
        f"<tr><td>{html.escape(e.name)}</td><td>{e.iteration}</td><td>{'' if e.n is None else e.n}</td>"
        + "".join(_cell(e.numbers.get(key)) for _, keys in groups for key in keys)
        + f'<td class="skipped">{html.escape("; ".join(e.skipped))}</td></tr>' for e in evaluations)
    return f'<div class="scroll"><table class="evaluations">{head}{rows}</table></div>'


def _notes(notes: list[str]) -> str:
    if not notes:
        return ""
    shown = "".join(f"<li>{html.escape(note)}</li>" for note in notes[:SHOWN_NOTES])
    more = f"<li>… and {len(notes) - SHOWN_NOTES} more</li>" if len(notes) > SHOWN_NOTES else ""
    return f'<section class="notes" id="left-out"><h2>Left out of this page</h2><ul>{shown}{more}</ul></section>'


def _config_section(check: ConfigCheck, checkpoint: dict | None) -> str:
    parts = ["<h2>Config</h2>"]
    if check.problem:
        runs = "; the checkpoint's config is what runs" if checkpoint else ""
        parts.append(f'<p class="differs">{html.escape(check.problem)}{runs}</p>')
    if check.differences:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>"
                       for k, a, b in check.differences)
        parts.append(f'<p class="differs">config.json differs from the config in {html.escape(checkpoint["path"])} '
                     "(edited by hand, or another run's): the checkpoint is what <code>sample</code>, "
                     "<code>evaluate</code> and a resume use.</p><div class=\"scroll\"><table class=\"differences\">"
                     f"<tr><th>field</th><th>config.json</th><th>checkpoint</th></tr>{rows}</table></div>")
    parts.append(f"<pre>{html.escape(check.text)}</pre>" if check.text is not None
                 else '<p class="empty">no config.json</p>')
    return "".join(parts)


def _config_of(checkpoint: dict | None, check: ConfigCheck) -> RunConfig | None:
    """What the run trains: the checkpoint's config, else config.json's (before the first checkpoint)."""
    if checkpoint is not None:
        return config_of(checkpoint)
    try:
        return RunConfig.from_dict(json.loads(check.text)) if check.text else None
    except (ValueError, TypeError, AttributeError, RecursionError):  # not JSON, or not a config
        return None


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1400px; padding: 16px; color: #222; }}
h2 {{ border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }}
h3 {{ font-size: 1rem; margin: 12px 0 6px; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; text-align: center; max-width: 100%; }}
figcaption {{ font-size: .85rem; color: #555; }}
img, svg {{ max-width: 100%; height: auto; }}
.pixels img {{ image-rendering: pixelated; width: 256px; }}
.timeline img {{ image-rendering: pixelated; width: 160px; }}
pre {{ background: #f6f6f6; padding: 8px; overflow: auto; max-height: 420px; font-size: .8rem; }}
.scroll {{ overflow-x: auto; max-width: 100%; }}
table {{ border-collapse: collapse; font-size: .85rem; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
th.key {{ font-weight: normal; font-size: .75rem; }}
.facts th {{ text-align: left; white-space: nowrap; vertical-align: top; }}
.facts td {{ text-align: left; }}
.facts code {{ white-space: nowrap; }}
td.skipped {{ text-align: left; font-size: .75rem; color: #555; }}
.empty {{ color: #888; }}
.notes {{ background: #fff6e0; border: 1px solid #e8c46a; padding: 0 12px 8px; }}
.notes li {{ font-family: monospace; font-size: .8rem; word-break: break-all; }}
.differs {{ color: #8a4b00; }}
@media (max-width: 600px) {{ body {{ padding: 10px; }} .pixels img {{ width: 160px; }} .timeline img {{ width: 110px; }} }}
</style></head><body>
<h1>{title}</h1>
{sections}
</body></html>
"""


def write_report(run_dir: str | Path, generate_streams: bool = True) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    if not any((run_dir / name).exists() for name in ("config.json", "stats.jsonl", "checkpoints")):
        raise FileNotFoundError(f"{run_dir}: not a run folder (no config.json, stats.jsonl or checkpoints/)")
    out = run_dir / "report"
    records, notes = read_stats(run_dir / "stats.jsonl")
    evaluations, eval_notes = read_evaluations(run_dir)
    checkpoint, checkpoint_note = latest_checkpoint(run_dir)
    check = check_config(run_dir / "config.json", checkpoint)
    notes = notes + eval_notes + [note for note in (checkpoint_note, check.problem) if note]
    for note in notes[:WARNED_NOTES]:
        print(f"videogan: warning: {note}: left out of the report", file=sys.stderr)
    if len(notes) > WARNED_NOTES:
        print(f"videogan: warning: and {len(notes) - WARNED_NOTES} more, listed in the report", file=sys.stderr)
    config = _config_of(checkpoint, check)

    # ITERATION_videos.gif (a GAN), ITERATION_KIND_videos.gif (the baseline's reconstructions, ...) and the
    # baseline's real_videos.gif, the clips its reconstructions are compared with
    samples = sorted((int(m[1]), m[2] or "", p) for p in (run_dir / "samples").glob("*videos.gif")
                     if (m := re.fullmatch(r"(\d+)_(?:(.+)_)?videos\.gif", p.name)))
    real = run_dir / "samples" / "real_videos.gif"
    real_figures = [_figure(real.relative_to(run_dir).as_posix(), "real clips")] if real.exists() else []
    sample_figures = [(i, _figure(p.relative_to(run_dir).as_posix(), f"iteration {i} {kind}".strip()))
                      for i, kind, p in samples]
    last_samples = [f for i, f in sample_figures if i == samples[-1][0]] if samples else []

    last = max([checkpoint["iteration"] if checkpoint else 0, *(r["iteration"] for r in records),
                *(e.iteration for e in evaluations)])
    margin = 0.03 * max(last, 1)  # markers at the first and last iteration drawn whole
    x_range = (-margin, last + margin)
    sections = [_summary(config, checkpoint, records, evaluations, last_samples + real_figures),
                _notes(notes)]
    curves = [_figure(p.relative_to(run_dir).as_posix(), t, False) for p, t in draw_curves(records, out, x_range)]
    metrics = [f'<figure class="metric" data-metric="{metric}" data-points="{html.escape(json.dumps(points))}">'
               f"{svg}</figure>" for metric, svg, points in draw_metrics(evaluations, x_range)]
    plots = curves[:1] + metrics + curves[1:]  # FVD and the other metrics beside the losses
    sections.append("<h2>Training curves and evaluations</h2>" + (
        f'<div class="grid">{"".join(plots)}</div>' if plots
        else '<p class="empty">no stats.jsonl records yet</p>'))
    if evaluations:
        sections.append("<h2>Evaluations</h2>" + eval_table(evaluations) + "".join(
            f"<details><summary>{html.escape(e.name)}</summary><pre>{html.escape(e.text)}</pre></details>"
            for e in evaluations))
    sections.append("<h2>Fixed-z samples over training</h2>" + (
        f'<div class="grid timeline">{"".join(real_figures + [f for _, f in sample_figures])}</div>'
        if samples else '<p class="empty">no samples yet (written every --sample-every iterations)</p>'))

    if checkpoint is not None and generate_streams:
        try:
            folder, iteration = final_streams(checkpoint, out)
            figures = [_figure((folder / f).relative_to(run_dir).as_posix(), c) for f, c in STREAMS
                       if (folder / f).exists()]
            sections.append(f"<h2>Final videos and their streams (iteration {iteration}; Figure 3's layout)</h2>"
                            f'<div class="grid pixels">{"".join(figures)}</div>')
        except ValueError as err:  # a checkpoint with no unconditional generator (the future task): no streams
            sections.append(f'<h2>Final videos and their streams</h2><p class="empty">{html.escape(str(err))}</p>')
    sections.append(_config_section(check, checkpoint))
    page = PAGE.format(title=html.escape(f"videogan run: {run_dir.resolve().name}"), sections="\n".join(sections))
    return write_atomic(run_dir / "report.html", page)

