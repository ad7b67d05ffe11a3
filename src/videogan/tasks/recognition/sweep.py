"""Figure 4b/4c: accuracy against the amount of labelled data, for fine-tuning from the GAN, random init
and the linear probe, on the same nested class-balanced subsets, over several seeds.

Writes sweep.json (settings, every run, mean and spread), sweep.csv (one row per run),
sweep_summary.csv (one row per method and fraction), figure4b.png and figure4c.png. Finished runs in an
existing sweep.json with the same settings are kept, so an interrupted sweep continues where it stopped.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from ...files import write_atomic
from .config import RecognitionConfig
from .data import load_labelled, nested_subsets
from .finetune import finetune, load_discriminator
from .plots import line_plot
from .probe import extract_features, probe, select_videos

METHODS = ("finetune", "random", "probe")
DEFAULT_FRACTIONS = ("1/32", "1/16", "1/8", "1/4", "1/2", "1")
RECORD_FIELDS = ("method", "fraction", "seed", "train_videos", "video_accuracy", "clip_accuracy")
SUMMARY_FIELDS = ("train_videos", "seeds", "video_accuracy_mean", "video_accuracy_std", "clip_accuracy_mean",
                  "clip_accuracy_std")


def _spread(values: list[float]) -> float:
    """Sample standard deviation over seeds (0 for a single seed)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def summarize_sweep(records: list[dict], fractions: list[Fraction]) -> dict:
    """Per method and fraction: mean and spread of video and clip accuracy over seeds; and the ratio
    fine-tune / random init (Figure 4c), per seed then averaged."""
    summary = {}
    for method in sorted({r["method"] for r in records}):
        rows = {}
        for f in fractions:
            runs = [r for r in records if r["method"] == method and r["fraction"] == str(f)]
            if runs:
                rows[str(f)] = {"seeds": len(runs), "train_videos": runs[0]["train_videos"],
                                **{f"{key}_{stat}": fn([r[key] for r in runs])
                                   for key in ("video_accuracy", "clip_accuracy")
                                   for stat, fn in (("mean", lambda v: float(np.mean(v))), ("std", _spread))}}
        summary[method] = rows
    ratio = {}
    for f in fractions:
        pairs = [(a["video_accuracy"], b["video_accuracy"]) for a in records for b in records
                 if a["method"] == "finetune" and b["method"] == "random" and a["fraction"] == b["fraction"] == str(f)
                 and a["seed"] == b["seed"] and b["video_accuracy"] > 0]
        if pairs:
            values = [a / b for a, b in pairs]
            ratio[str(f)] = {"seeds": len(values), "mean": float(np.mean(values)), "std": _spread(values)}
    summary["finetune_over_random"] = ratio
    return summary


def _csv(header, rows) -> str:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def write_outputs(out: Path, settings: dict, records: list[dict], fractions: list[Fraction]) -> dict:
    summary = summarize_sweep(records, fractions)
    write_atomic(out / "sweep.json", json.dumps({"settings": settings, "runs": records, "summary": summary}, indent=2))
    write_atomic(out / "sweep.csv", _csv(RECORD_FIELDS, ([r[k] for k in RECORD_FIELDS] for r in records)))
    write_atomic(out / "sweep_summary.csv", _csv(
        ("method", "fraction", *SUMMARY_FIELDS),
        ([method, fraction, *(row[k] for k in SUMMARY_FIELDS)]
         for method, rows in summary.items() if method != "finetune_over_random" for fraction, row in rows.items())))
    return summary


def draw_figures(out: Path, summary: dict, fractions: list[Fraction]) -> list[Path]:
    labels = [str(f) for f in fractions]
    x_title = "fraction of labelled training videos (per class)"
    accuracy = {m: [(summary[m][k]["video_accuracy_mean"], summary[m][k]["video_accuracy_std"])
                    if k in summary.get(m, {}) else None for k in labels] for m in METHODS if m in summary}
    ratio = {"ratio": [(summary["finetune_over_random"][k]["mean"], summary["finetune_over_random"][k]["std"])
                       if k in summary["finetune_over_random"] else None for k in labels]}
    return [line_plot(out / "figure4b.png", labels, accuracy, "Figure 4b: performance vs labelled data",
                      "video accuracy", x_title),
            line_plot(out / "figure4c.png", labels, ratio, "Figure 4c: relative gain vs labelled data",
                      "fine-tune / random init", x_title, reference=1.0)]


def run_sweep(init: str, config: RecognitionConfig, fractions: list[Fraction], seeds: list[int],
              methods: tuple[str, ...], out: str | Path, device, pool: str = "flatten", log=print) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown method(s) {sorted(unknown)}; choose from {METHODS}")
    train, test = load_labelled(config.data)
    gan, state = load_discriminator(init)  # fails early, before any training, on a bad checkpoint
    settings = {"init": state["path"], "gan_iteration": state.get("iteration"), "config": config.to_dict(),
                "fractions": [str(f) for f in fractions], "seeds": list(seeds), "methods": list(methods),
                "pool": pool, "train_videos": len(train), "test_videos": len(test), "classes": list(train.classes)}
    records = []
    previous = out / "sweep.json"
    if previous.exists():
        saved = json.loads(previous.read_text())
        if saved.get("settings") == settings:
            records = saved["runs"]
            log(f"continuing {previous}: {len(records)} runs already done")
    done = {(r["method"], r["fraction"], r["seed"]) for r in records}
    features = None
    if "probe" in methods:
        log("extracting discriminator features for the probe")
        features = [extract_features(gan, videos, pool, config.finetune.eval_batch, device) for videos in (train, test)]
    for seed in seeds:
        for fraction, indices in nested_subsets(train, fractions, seed).items():
            subset = train.subset(indices)
            for method in methods:
                if (method, str(fraction), seed) in done:
                    continue
                if method == "probe":
                    (train_feats, train_owner), (test_feats, test_owner) = features
                    sub_feats, sub_owner = select_videos(train_feats, train_owner, indices)
                    result = probe(sub_feats, sub_owner, subset, test_feats, test_owner, test, seed)
                else:
                    cfg = dataclasses.replace(config.finetune, seed=seed)
                    _, result = finetune(init if method == "finetune" else "random", subset, test, cfg, device,
                                         model_cfg=gan.cfg)
                records.append({"method": method, "fraction": str(fraction), "seed": seed,
                                "train_videos": len(subset), "video_accuracy": result["video_accuracy"],
                                "clip_accuracy": result["clip_accuracy"]})
                log(f"seed {seed} fraction {fraction} ({len(subset)} videos) {method}: "
                    f"video accuracy {result['video_accuracy']:.3f}, clip accuracy {result['clip_accuracy']:.3f}")
                write_outputs(out, settings, records, fractions)
    summary = write_outputs(out, settings, records, fractions)
    draw_figures(out, summary, fractions)
    return summary
