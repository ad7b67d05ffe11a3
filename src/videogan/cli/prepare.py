"""`videogan prepare SRC OUT`: decode, stabilize and cut videos into clips stored as tar shards (see
data/prepare.py for what it does with each input)."""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from ..data import prepare as prepare_module
from ..data.clip_formats import DEFAULT_FORMAT, FORMATS, JPEG_QUALITY
from ..data.defects import FREEZE_FRAMES, FREEZE_LEVEL
from ..data.prepare import (MAX_FPS, SKIPPED_FILE, Options, OutputError, PrepareOutcome, cut_summary,
                            report_output_error, run)
from ..data.scene_filter import SceneFilter
from ..data.stabilize import WORK_SIDE


def _class_counts(outcome: PrepareOutcome, not_done: str) -> list[str]:
    """'CLASS: K kept, S skipped' per class, when the inputs have classes or labels; inputs not done are
    counted under `not_done`."""
    status = {r["source"]: r["status"] for r in outcome.records}
    counts: dict[str, Counter] = {}
    for source in outcome.sources:
        if source.label_name or source.label >= 0:
            name = source.label_name or f"label {source.label}"
            counts.setdefault(name, Counter())[status.get(source.id, not_done)] += 1
    return [f"  {name}: {c['ok']} kept, {c['skipped']} skipped"
            + (f", {c[not_done]} {not_done}" if c[not_done] else "") for name, c in sorted(counts.items())]


def main(args: argparse.Namespace) -> int:
    if args.subset is not None and args.split is None:
        raise ValueError("--subset chooses part of an official split: give --split N as well")
    frames = args.frames
    # `is None`, not `or`: an explicit 0 is the user's choice (and an invalid stride is refused, not replaced)
    options = Options(size=args.size, frames=frames, stride=frames if args.stride is None else args.stride,
                      fps=args.fps, min_frames=frames if args.min_frames is None else args.min_frames,
                      pad=args.pad, stabilize=not args.no_stabilize, work_side=args.work_side,
                      freeze_frames=args.freeze_frames, freeze_level=args.freeze_level)
    if (args.scene_filter is None) != (args.keep is None):
        raise ValueError("--scene-filter and --keep go together: the model, and the scenes to keep")
    scenes = None
    if args.scene_filter is not None:
        keep = [name.strip() for name in args.keep.split(",") if name.strip()]
        if not keep:
            raise ValueError("--keep: no scene names (give them comma-separated: \"golf course,beach\")")
        scenes = SceneFilter(args.scene_filter, keep)
    started = time.time()
    try:
        outcome = run(Path(args.src), Path(args.out), options, args.workers, args.shard_index, args.num_shards,
                      args.shard_clips, progress=lambda m: print(m, file=sys.stderr), split=args.split,
                      subset=args.subset or "train", retry_skipped=args.retry_skipped, clip_format=args.clip_format,
                      scenes=scenes)
    except OutputError as err:
        return report_output_error(err)
    records, unfinished = outcome.records, outcome.unfinished
    skipped = [r for r in records if r["status"] == "skipped"]
    clips = sum(r.get("clips", 0) for r in records)
    for r in skipped + outcome.unreadable:
        print(f"skipped {r['source']!r}: {r['reason']}", file=sys.stderr)
    # stopped: not a failure (the scheduler's time is up), and what is not done is left for a re-run
    not_done = "left for a re-run" if outcome.stopped else "unfinished"
    if outcome.stopped:
        print(f"stopped by {outcome.stopped}: finished inputs are published; {len(unfinished)} input(s) of this "
              f"share are left for a re-run of the same command", file=sys.stderr)
    else:
        for s in unfinished:
            print(f"unfinished {s.id!r}: its worker died; re-run to retry", file=sys.stderr)
    cut = cut_summary(records)
    if cut:
        print(cut, file=sys.stderr)
    classes = _class_counts(outcome, not_done)
    if classes:
        print("per class:\n" + "\n".join(classes), file=sys.stderr)
    earlier = (f" ({outcome.skipped_earlier} of them skipped by an earlier run; --retry-skipped tries them again)"
               if outcome.skipped_earlier else "")
    folders = f", {len(outcome.unreadable)} folder(s) unreadable" if outcome.unreadable else ""
    print(f"{len(records) - len(skipped)} inputs -> {clips} clips, {len(skipped)} skipped{earlier}, "
          f"{len(unfinished)} {not_done}{folders}, {time.time() - started:.1f}s; skipped inputs listed in "
          f"{Path(args.out) / SKIPPED_FILE}", file=sys.stderr)
    return 1 if skipped or (unfinished and not outcome.stopped) or outcome.unreadable else 0


def register(subparsers) -> None:
    p = subparsers.add_parser("prepare", help="decode, stabilize and cut videos into training clips",
                              description=prepare_module.__doc__.splitlines()[0])
    p.add_argument("src", help="folder of videos, text file of paths, or UCF-101 root")
    p.add_argument("out", help="output folder (shards/, manifest.jsonl, skipped.jsonl)")
    p.add_argument("--size", type=int, default=64, help="square frame size (128 keeps the original's resolution)")
    p.add_argument("--frames", type=int, default=32, help="frames per clip")
    p.add_argument("--stride", type=int, default=None, help="frames between clip starts (default: --frames)")
    p.add_argument("--fps", type=float, default=None,
                   help=f"resample to this rate, at most {MAX_FPS:g} (default: native)")
    p.add_argument("--min-frames", type=int, default=None, help="shortest clip kept (default: --frames)")
    p.add_argument("--pad", action="store_true", help="pad short clips to --frames with their last frame")
    p.add_argument("--no-stabilize", action="store_true", help="skip camera stabilization")
    p.add_argument("--work-side", type=int, default=WORK_SIDE, help="short side for stabilization features")
    p.add_argument("--freeze-frames", type=int, default=FREEZE_FRAMES,
                   help="cut runs of this many near-identical decoded frames, a stalled stream (0: keep them)")
    p.add_argument("--freeze-level", type=float, default=FREEZE_LEVEL,
                   help="frames closer than this mean difference (8-bit levels) count as identical")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--shard-index", type=int, default=0, help="this job's index in a job array")
    p.add_argument("--num-shards", type=int, default=1, help="jobs sharing the inputs")
    p.add_argument("--shard-clips", type=int, default=256, help="at most this many clips per tar shard")
    p.add_argument("--split", type=int, default=None, help="UCF-101 root: official split N (default: all videos)")
    p.add_argument("--subset", choices=("train", "test"), default=None, help="with --split: which list (default train)")
    p.add_argument("--clip-format", choices=sorted(FORMATS), default=DEFAULT_FORMAT,
                   help=f"how clips are stored (default {DEFAULT_FORMAT}: quality-{JPEG_QUALITY} JPEG strips, "
                        "15-22%% of raw's bytes; raw: lossless .npy)")
    p.add_argument("--scene-filter", metavar="MODEL.pt", default=None,
                   help="TorchScript scene classifier with its class names inside (docs/data.md)")
    p.add_argument("--keep", metavar="SCENES", default=None,
                   help='with --scene-filter: comma-separated scenes whose inputs are kept ("golf course,beach")')
    p.add_argument("--retry-skipped", action="store_true", help="try the inputs earlier runs skipped again")
    p.set_defaults(func=main)
