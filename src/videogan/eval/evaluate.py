"""`videogan evaluate CHECKPOINT`: FVD and the diagnostics of a generator against real videos.

Real statistics for FVD are cached on disk (keyed by the real set's description, the frames and the
weights), so scoring many checkpoints against one dataset embeds the real videos once.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from ..data.video_io import to_uint8
from ..files import check_not_an_input, check_writable, write_atomic
from ..runtime import pick_device
from ..tasks.sample import RAW_HELP, load_sampler
from ..train.checkpoint import config_of, load_checkpoint
from .fvd import BATCH_SIZE, FRAMES, frechet_distance_from_stats
from .fvd_cli import protocol
from .i3d import MIN_FRAMES, NUM_CLASSES
from .metrics import METRICS, NEEDS_I3D, EvalContext, VideoSet, get_metric, real_fvd_stats
from .sources import dataset_config, open_source, synthetic_spec
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


def cached_real_stats(described: dict, context: EvalContext, real: VideoSet, cache: Path | None):
    """The real set's FVD statistics, cached under its description (`source.describe()`); a damaged cache
    file is reported and computed again."""
    if cache is None:
        return real_fvd_stats(real, context)
    path = stats_path(described, context.frames, cache)
    if path.exists():
        try:
            return read_cached_stats(path)
        except ValueError as err:
            print(f"videogan: warning: {err}; computing them again", file=sys.stderr)
    stats = real_fvd_stats(real, context)
    write_atomic(path, lambda f: np.savez(f, mu=stats[0], sigma=stats[1], sha256=_stats_sha256(*stats)))
    return stats


def stats_path(described: dict, frames: int, cache: Path) -> Path:
    """Where the statistics of a real set (`source.describe()`) seen through `frames` frames are cached."""
    key = json.dumps({"real": described, "frames": frames, "weights": CKPT_SHA256}, sort_keys=True)
    return cache / "fvd_stats" / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"


def evaluate(checkpoint: str | Path, data: str | None = None, n: int = 2048, metrics=tuple(METRICS),
             frames: int = FRAMES, seed: int = 0, device="auto", batch_size: int = BATCH_SIZE,
             weights_dir=None, use_cache: bool = True, raw: bool = False, floor_data: str | None = None) -> dict:
    """`floor_data`: the second real set of the real-vs-real floor (default: `floor_source`), e.g. clips of
    other people or scenes than `data`, so the floor says what a generator of the training side's
    distribution would score against held-out footage."""
    state = load_checkpoint(checkpoint)
    model = config_of(state).model
    for name in metrics:
        get_metric(name)
    wants_i3d = bool(NEEDS_I3D & set(metrics))
    if n < (2 if wants_i3d else 1):
        raise ValueError(f"--n {n}: give at least {2 if wants_i3d else 1} videos per set"
                         + (" (FVD fits a Gaussian to each)" if wants_i3d else ""))
    if batch_size < 1:
        raise ValueError(f"--batch-size {batch_size}: give at least 1 video per I3D pass")
    if wants_i3d and use_cache:
        check_writable(cache_dir(weights_dir) / "fvd_stats", what="FVD statistics cache (or use --no-cache)")
    if wants_i3d and min(frames, model.frames) < MIN_FRAMES:
        raise ValueError(f"{state['path']}: FVD needs at least {MIN_FRAMES} frames; the model makes "
                         f"{model.frames} (--frames {frames})")
    dev = pick_device(device)
    data = data or default_real_data(state)
    source = open_source(data, model.frames, n, seed, model.size)
    described = source.describe()  # a prepared dataset's fingerprint reads every file's metadata: once
    real = VideoSet(list(source))
    fake = generated_set(checkpoint, len(real.videos), seed, dev, raw=raw)
    context = EvalContext(i3d=load_i3d(dev, weights_dir) if wants_i3d else None,
                          frames=min(frames, model.frames), batch_size=batch_size, real_description=described)
    if wants_i3d:
        cache = cache_dir(weights_dir) if use_cache else None
        context = dataclasses.replace(context, real_stats=cached_real_stats(described, context, real, cache))
    result = {"checkpoint": state["path"], "iteration": state.get("iteration"), "arch": model.arch,
              "kind": state.get("kind", "gan"),
              "generator_weights": "average" if "generator_ema" in state and not raw else "trained",
              "n": len(real.videos), "real": described, "metrics": list(metrics)}
    for name in metrics:
        result.update(get_metric(name)(fake, real, context))
    if wants_i3d:
        result.update(protocol(context.frames, seed, dev))
        # what the FVD means: the distance between two real sets of the same n, frames and size
        floor = (open_source(floor_data, model.frames, len(real.videos), seed + 1, model.size) if floor_data
                 else floor_source(data, model.frames, len(real.videos), seed, model.size))
        shared = len(set(floor.members()) & set(source.members())) / len(real.videos)
        if shared:
            print(f"videogan: warning: the floor's second real set shares {shared:.0%} of its videos with the "
                  f"first ({data} holds fewer than 2 x {len(real.videos)}), which lowers the floor; give "
                  f"--floor-data, real videos the first set does not hold", file=sys.stderr)
        floor_stats = cached_real_stats(floor.describe(), context, VideoSet(list(floor)),
                                        cache_dir(weights_dir) if use_cache else None)
        result.update(fvd_real_floor=frechet_distance_from_stats(*floor_stats, *context.real_stats),
                      real_floor=floor.describe(), real_floor_shared=shared)
    return result


def _run(args) -> None:
    metrics = tuple(args.metrics.split(",")) if args.metrics else tuple(METRICS)
    state = load_checkpoint(args.checkpoint)  # the one a run folder resolves to, and the default output's name
    out = Path(args.out) if args.out else Path(state["path"]).parent.parent / f"eval-{state['iteration']}.json"
    check_writable(out, is_file=True)
    check_not_an_input(out, inputs=[state["path"]])
    result = evaluate(state["path"], args.data, args.n, metrics, args.frames, args.seed, args.device,
                      args.batch_size, args.cache_dir, not args.no_cache, args.raw, args.floor_data)
    write_atomic(out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if "fvd_real_floor" in result:
        print(f"FVD {result['fvd']:.1f}; real vs real at the same n, frames and size: {result['fvd_real_floor']:.1f}")
    print(f"wrote {out}")


def register(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="FVD and diagnostics of a generator against real videos")
    parser.add_argument("checkpoint", help="checkpoint file or run folder (its latest checkpoint)")
    parser.add_argument("--data", default=None,
                        help="real videos: a folder of video files, synthetic[:SEED][,max_objects=N][,object_scale=S] "
                             "(the built-in dataset), or a prepared dataset (default: the run's data; for the "
                             "built-in dataset, held-out videos with the run's options)")
    parser.add_argument("--floor-data", default=None,
                        help="the real-vs-real floor's second set (default: other videos of --data): e.g. real "
                             "clips of other people or scenes than --data")
    parser.add_argument("--n", type=int, default=2048, help="videos per set")
    parser.add_argument("--frames", type=int, default=FRAMES, help="frames FVD looks at (the first ones, >= 9)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated codes and of the real subset")
    parser.add_argument("--metrics", default=None, help=f"comma-separated subset of {','.join(METRICS)}")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="videos per I3D pass")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache-dir", default=None, help="weights and cached statistics (default: ~/.cache/videogan)")
    parser.add_argument("--no-cache", action="store_true", help="recompute the real set's FVD statistics")
    parser.add_argument("--out", default=None, help="result JSON (default: RUN_DIR/eval-ITERATION.json)")
    parser.add_argument("--raw", action="store_true", help=RAW_HELP)
    parser.set_defaults(func=_run, out_is_file=True)
