"""`videogan evaluate CHECKPOINT`: FVD and the diagnostics of a generator against real videos.

Real statistics for FVD are cached on disk (keyed by the real set's description, the frames and the
weights), so scoring many checkpoints against one dataset embeds the real videos once.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import config_of, load_checkpoint
from ..data.video_io import to_uint8
from ..files import check_writable, write_atomic
from ..models.sampler import load_sampler
from ..runtime import pick_device
from .fvd import FRAMES, Progress, frechet_distance_from_stats, protocol
from .i3d import MIN_FRAMES, NUM_CLASSES
from .metrics import METRICS, NEEDS_I3D, EvalContext, VideoSet, get_metric, has_classes, real_fvd_stats
from .results import finite_number
from .sources import count_videos, dataset_config, open_source, synthetic_spec
from .weights import CKPT_SHA256, cache_dir, load_i3d


def generated_set(checkpoint: str | Path, n: int, seed: int, device, batch_size: int = 64,
                  raw: bool = False) -> VideoSet:
    """n videos of a checkpoint's generator (eval mode) with codes from its prior (N(0, I) for a GAN, the
    mixture for the baseline), drawn batch by batch: uint8 videos and masks."""
    sampler = load_sampler(checkpoint, device, raw)
    rng = torch.Generator().manual_seed(seed)
    videos, masks = [], []
    for start in range(0, n, batch_size):
        parts = sampler.sample(min(batch_size, n - start), rng, batch_size)
        videos.extend(to_uint8(parts["video"]))
        if "mask" in parts:
            masks.extend(parts["mask"][:, 0].numpy())
    return VideoSet(videos, masks or None)


def default_real_data(state: dict) -> str:
    """The training data; for the built-in dataset, held-out videos of the same generator (next seed)."""
    data = config_of(state).data
    return synthetic_spec(data, 1) if data.data == "synthetic" else data.data


def _stats_sha256(mu: np.ndarray, sigma: np.ndarray) -> str:
    return hashlib.sha256(np.float64(mu).tobytes() + np.float64(sigma).tobytes()).hexdigest()


def read_cached_stats(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Cached (mu, sigma) of a real set; a ValueError naming the file when it is unreadable, of the wrong
    shape, not finite, or differs from the sha256 stored with it."""
    try:
        with np.load(path, allow_pickle=False) as stats:
            mu, sigma, stored = stats["mu"], stats["sigma"], str(stats["sha256"])
    except Exception as err:  # zip, format and key errors of a truncated or foreign file
        raise ValueError(f"{path}: unreadable FVD statistics ({type(err).__name__}: {err})") from None
    if mu.shape != (NUM_CLASSES,) or sigma.shape != (NUM_CLASSES, NUM_CLASSES):
        raise ValueError(f"{path}: FVD statistics of shapes {mu.shape} and {sigma.shape}, expected "
                         f"({NUM_CLASSES},) and ({NUM_CLASSES}, {NUM_CLASSES})")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(f"{path}: FVD statistics hold NaN or infinite values")
    if stored != _stats_sha256(mu, sigma):
        raise ValueError(f"{path}: FVD statistics differ from the sha256 stored with them (damaged)")
    return mu, sigma


def floor_source(data: str, frames: int, n: int, seed: int, size: int):
    """A second real set for the real-vs-real floor at the same n, frames and size: the built-in
    dataset's next seed (other videos), otherwise another seeded subset of the same data (which can share
    videos with the first when the data has fewer than 2n)."""
    config = dataset_config(data)
    if config.data == "synthetic":
        return open_source(synthetic_spec(config, 1), frames, n, seed, size)
    return open_source(data, frames, n, seed + 1, size)


def cached_stats(described: dict, frames: int, cache: Path | None):
    """A real set's FVD statistics from the cache, None when they are not there (or `cache` is None); a
    damaged cache file is reported and left to be computed again."""
    path = stats_path(described, frames, cache) if cache is not None else None
    if path is None or not path.exists():
        return None
    try:
        return read_cached_stats(path)
    except ValueError as err:
        print(f"videogan: warning: {err}; computing them again", file=sys.stderr)
        return None


def store_stats(described: dict, frames: int, cache: Path | None, stats) -> None:
    if cache is None:
        return
    path = stats_path(described, frames, cache)
    write_atomic(path, lambda f: np.savez(f, mu=stats[0], sigma=stats[1], sha256=_stats_sha256(*stats)))


def stats_path(described: dict, frames: int, cache: Path) -> Path:
    """Where the statistics of a real set (`source.describe()`) seen through `frames` frames are cached."""
    key = json.dumps({"real": described, "frames": frames, "weights": CKPT_SHA256}, sort_keys=True)
    return cache / "fvd_stats" / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"


DEFAULT_N = 2048  # videos per set of the paper-style FVD protocol


def fitting_n(n: int | None, counts: dict[str, int]) -> tuple[int, str | None]:
    """Videos per set, and a note when fewer than the default: `n` if every source (name -> how many videos
    it holds) has that many, else an error naming the n that fits; without `n`, DEFAULT_N or all that the
    smallest source holds."""
    name, fits = min(counts.items(), key=lambda item: item[1])
    if n is not None:
        if n > fits:
            raise ValueError(f"--n {n}: {name} holds {fits} videos; give --n {fits} or fewer")
        return n, None
    if fits >= DEFAULT_N:
        return DEFAULT_N, None
    return fits, (f"{name} holds {fits} videos, fewer than the default --n {DEFAULT_N}: n = {fits} (FVD is "
                  f"comparable only at equal n)")


def evaluate(checkpoint: str | Path, data: str | None = None, n: int | None = None, metrics=None,
             frames: int = FRAMES, seed: int = 0, device="auto", batch_size: int | None = None,
             weights_dir=None, use_cache: bool = True, raw: bool = False, floor_data: str | None = None) -> dict:
    """`n`: videos per set (None: DEFAULT_N, or all the real data holds if fewer, with a note). `metrics`:
    names from METRICS (None: all of them, leaving out FVD with the reason when the model makes fewer frames
    than I3D needs). `floor_data`: the second real set of the real-vs-real floor (default: `floor_source`),
    e.g. clips of other people or scenes than `data`, so the floor says what a generator of the training
    side's distribution would score against held-out footage."""
    state = load_checkpoint(checkpoint)
    model = config_of(state).model
    chosen = tuple(metrics) if metrics else tuple(METRICS)
    for name in chosen:
        get_metric(name)
    notes = {}  # what was left out or chosen, and why
    too_few_frames = min(frames, model.frames) < MIN_FRAMES
    i3d_metrics = [name for name in chosen if name in NEEDS_I3D]
    why = (f"{' and '.join(i3d_metrics)} need{'s' * (len(i3d_metrics) == 1)} at least {MIN_FRAMES} frames "
           f"(I3D's input); the model makes {model.frames} (--frames {frames})")
    if i3d_metrics and too_few_frames and not metrics:  # the defaults: all that can be measured
        chosen = tuple(name for name in chosen if name not in NEEDS_I3D)
        notes["fvd_skipped"] = why
    wants_i3d = bool(NEEDS_I3D & set(chosen))
    wants_fvd = "fvd" in chosen  # the floor and the cached real statistics are FVD's
    if n is not None and n < (2 if wants_fvd else 1):
        raise ValueError(f"--n {n}: give at least {2 if wants_fvd else 1} videos per set"
                         + (" (FVD fits a Gaussian to each)" if wants_fvd else ""))
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"--batch-size {batch_size}: give at least 1 video per I3D pass")
    cache = cache_dir(weights_dir) if wants_fvd and use_cache else None
    if cache is not None:
        check_writable(cache / "fvd_stats", what="FVD statistics cache (or use --no-cache)")
    if wants_i3d and too_few_frames:
        raise ValueError(f"{state['path']}: {why}")
    dev = pick_device(device)
    data = data or default_real_data(state)
    counts = {data: count_videos(data, model.frames, model.size)}
    if wants_fvd and floor_data:
        counts[f"--floor-data {floor_data}"] = count_videos(floor_data, model.frames, model.size)
    n, note = fitting_n(n, counts)
    if note:
        print(f"videogan: note: {note}", file=sys.stderr)
        notes["n_note"] = note
    if wants_fvd and n < 2:
        raise ValueError(f"{data}: holds {n} video; FVD fits a Gaussian to each set and needs at least 2")
    source = open_source(data, model.frames, n, seed, model.size)
    described = source.describe()  # a prepared dataset's fingerprint reads every file's metadata: once
    frames = min(frames, model.frames)
    real_stats = floor_stats = None
    if wants_fvd:
        # what the FVD means: the distance between two real sets of the same n, frames and size
        floor = (open_source(floor_data, model.frames, n, seed + 1, model.size) if floor_data
                 else floor_source(data, model.frames, n, seed, model.size))
        shared = len(set(floor.members()) & set(source.members())) / n
        if shared:
            print(f"videogan: warning: the floor's second real set shares {shared:.0%} of its videos with the "
                  f"first ({data} holds fewer than 2 x {n}), which lowers the floor; give "
                  f"--floor-data, real videos the first set does not hold", file=sys.stderr)
        floor_described = floor.describe()
        real_stats, floor_stats = (cached_stats(d, frames, cache) for d in (described, floor_described))
    real = VideoSet(list(source), labels=source.labels())
    fake = generated_set(checkpoint, n, seed, dev, raw=raw)
    result = {"checkpoint": state["path"], "iteration": state.get("iteration"), "arch": model.arch,
              "kind": state.get("kind", "gan"),
              "generator_weights": "average" if "generator_ema" in state and not raw else "trained",
              "n": n, "real": described, "metrics": list(chosen), **notes}
    # the generated set, once for all metrics; the real sets whose statistics are not cached, and the real set
    # whatever the cache holds when class_coverage compares the videos one by one
    classes = "class_coverage" in chosen and has_classes(real)
    to_embed = n * ((wants_fvd or classes) + (wants_fvd and real_stats is None or classes)
                    + (wants_fvd and floor_stats is None))
    with Progress(to_embed) if wants_i3d else contextlib.nullcontext() as progress:
        context = EvalContext(i3d=load_i3d(dev, weights_dir) if wants_i3d else None, frames=frames,
                              batch_size=batch_size, real_description=described, progress=progress)
        if wants_fvd and real_stats is None:
            real_stats = real_fvd_stats(real, context)
            store_stats(described, frames, cache, real_stats)
        context = dataclasses.replace(context, real_stats=real_stats)
        for name in chosen:
            result.update(get_metric(name)(fake, real, context))
        if wants_fvd and floor_stats is None:
            floor_stats = real_fvd_stats(VideoSet(list(floor)), context, "floor")
            store_stats(floor_described, frames, cache, floor_stats)
    if wants_i3d:
        result.update(protocol(frames, seed, dev))
    if wants_fvd:
        result.update(fvd_real_floor=frechet_distance_from_stats(*floor_stats, *real_stats),
                      real_floor=floor_described, real_floor_shared=shared)
    return result


def evaluate_repeated(checkpoint: str | Path, repeats: int, seed: int = 0, **options) -> dict:
    """`evaluate` at seeds seed .. seed + repeats - 1 (other codes, and other real and floor subsets where
    the data holds more than n), summarised: every measured number is the mean over the seeds, with its
    sample standard deviation as KEY_sd, and `fvd_over_floor` is each seed's FVD over its own floor,
    averaged: how far one draw can be trusted, on a held-out set of a hundred clips (docs/evaluation.md,
    'How sure'). `per_seed` holds each evaluation."""
    if repeats < 1:
        raise ValueError(f"--repeats {repeats}: give 1 or more")
    per_seed = [evaluate(checkpoint, seed=seed + i, **options) for i in range(repeats)]
    if repeats == 1:
        return per_seed[0]
    for result in per_seed:
        if result.get("fvd") is not None and result.get("fvd_real_floor"):
            result["fvd_over_floor"] = result["fvd"] / result["fvd_real_floor"]
    summary = {key: value for key, value in per_seed[0].items() if not _measured(value)}
    summary["null_reasons"] = dict(summary.get("null_reasons", {}))
    for key in {key: None for result in per_seed for key in result}:  # every key, in order of appearance
        values = [result.get(key) for result in per_seed]
        if all(_measured(value) for value in values):
            summary[key] = float(np.mean(values))
            summary[f"{key}_sd"] = float(np.std(values, ddof=1))
        elif any(_measured(value) for value in values):
            summary[key] = None
            summary["null_reasons"][key] = "not measured at every seed (per_seed holds those it was)"
    if not summary["null_reasons"]:
        del summary["null_reasons"]
    shares = [result.get("class_shares") for result in per_seed]
    if all(shares):  # each class's shares averaged as the numbers are (0 at a seed whose real subset lacks it)
        classes = {name: None for seed_shares in shares for name in seed_shares}
        summary["class_shares"] = {name: {side: float(np.mean([s.get(name, {}).get(side, 0.0) for s in shares]))
                                          for side in ("generated", "real")} for name in classes}
    else:  # not measured at every seed: per_seed holds those it was
        summary.pop("class_shares", None)
    return {**summary, "seed": seed, "seeds": [seed + i for i in range(repeats)], "per_seed": per_seed}


def _measured(value) -> bool:
    """A measured number (a float): not a count, a flag or a description, which every seed shares."""
    return isinstance(value, float) and finite_number(value) is not None
