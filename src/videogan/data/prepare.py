"""`videogan prepare SRC OUT`: decode, stabilize and cut videos into clips stored as tar shards.

SRC is a folder (searched recursively for video files and folders of numbered frames; other files are
not inputs), a text file of paths (`path [label]` per line, relative to the file), or a UCF-101 root
(labels from classInd.txt; `--split N` for an official split). A folder whose videos all lie in two or more
subfolders is a class-per-folder tree: each clip records its class (folder name) and label (its index in
name order, as `recognize` numbers class folders). Every input ends as one manifest record, `ok` or
`skipped` with a one-line reason; bad input never stops the run, while failing to write OUT does. Only
regular files and folders are inputs (a named pipe is skipped, not opened); a folder that cannot be listed
is reported in the summary and skipped.jsonl and makes the exit status 1, and is looked at again by every
run. A re-run skips the inputs complete shards already record (`--retry-skipped` tries the skipped ones
again) and deletes temporaries that killed runs of this host left. `--shard-index i --num-shards n` takes
every n-th input from the i-th, so a cluster job array can share one OUT folder: each job holds the lock
of its own share, and jobs of another --num-shards are refused while one runs. Ctrl-C or SIGTERM (to the
whole process group, as schedulers send it) stops every worker after its current input and publishes what
is done; a re-run of the same command goes on from there. `--scene-filter MODEL.pt
--keep SCENES` prepares only the inputs whose scene a classifier puts in SCENES (scene_filter.py); the others
are skipped, naming their scene. Clips are stored as `--clip-format` (clip_formats.py).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
import time
import uuid
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .clip_formats import DEFAULT_FORMAT
from .clips import cut_clips, square
from .decode import VIDEO_EXTENSIONS, DecodeError, iter_parts, probe
from .defects import FREEZE_FRAMES, FREEZE_LEVEL, Cuts, FreezeLimits
from .formats import list_videos
from .labelled import is_ucf_root, list_labelled
from ..files import (AtomicFile, FolderBusy, OutputError, current_holder, describe_holder, hold_folder, read_text_lines,
                     remove_stale_temporaries, write_atomic, writing)
from ..stop_signals import StopRequest, helper_context, ignore_stop_signals
from .scene_filter import SceneFilter
from .shards import SHARD_DIR, ShardWriter, completed_shards, read_manifests
from .stabilize import WORK_SIDE, Stabilizer

OPTIONS_FILE = "prepare.json"
SKIPPED_FILE = "skipped.jsonl"  # JSON lines: a file name may hold tabs and newlines
MAX_FPS = 240.0  # a higher --fps only repeats frames (a 46 KB file became 47 MB at 2500)
MAX_SIDE = 1024  # --size and --work-side: 8x the paper's 128; far larger ones fail in OpenCV on every input


@dataclass(frozen=True)
class Options:
    size: int = 64
    frames: int = 32
    stride: int = 32
    fps: float | None = None
    min_frames: int = 32
    pad: bool = False
    stabilize: bool = True
    work_side: int = WORK_SIDE  # stabilizer's feature resolution (short side)
    freeze_frames: int = FREEZE_FRAMES  # defects.py: runs of this many near-identical frames are cut (0: off)
    freeze_level: float = FREEZE_LEVEL

    def __post_init__(self):
        for flag, value in (("--size", self.size), ("--frames", self.frames), ("--stride", self.stride),
                            ("--work-side", self.work_side)):
            if value < 1:
                raise ValueError(f"{flag} must be positive, got {value}")
        if self.fps is not None and not (math.isfinite(self.fps) and 0 < self.fps <= MAX_FPS):
            raise ValueError(f"--fps must be in (0, {MAX_FPS:g}], got {self.fps:g}")
        for flag, value in (("--size", self.size), ("--work-side", self.work_side)):
            if value > MAX_SIDE:
                raise ValueError(f"{flag} must be at most {MAX_SIDE} pixels, got {value}")
        if not 0 <= self.min_frames <= self.frames:
            raise ValueError(f"--min-frames must be in [0, --frames {self.frames}], got {self.min_frames}")
        self.freeze  # raises for values it cannot work with

    @property
    def freeze(self) -> FreezeLimits:
        return FreezeLimits(self.freeze_frames, self.freeze_level)


@dataclass(frozen=True)
class Source:
    id: str  # stable name recorded in the manifest and used to resume
    path: str
    label: int = -1
    label_name: str = ""


def _class_tree(src: Path, found: list[Path]) -> list[Source]:
    """`found` as class-per-folder sources if every video lies in a subfolder of `src` and there are two or
    more such subfolders (none a frame folder itself); else unlabelled."""
    tops = [p.relative_to(src).parts for p in found]
    used = {parts[0] for parts in tops if len(parts) > 1}
    if len(used) < 2 or any(len(parts) == 1 for parts in tops):
        return [Source(p.relative_to(src).as_posix(), str(p)) for p in found]
    classes = sorted(p.name for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))
    label_of = {name: label for label, name in enumerate(classes)}  # as labelled.list_labelled numbers them
    return [Source(p.relative_to(src).as_posix(), str(p), label_of[parts[0]], parts[0])
            for p, parts in zip(found, tops)]


def list_sources(src: Path, split: int | None = None, subset: str = "train",
                 unreadable: list[tuple[Path, str]] | None = None) -> list[Source]:
    """The inputs in `src`; `split` and `subset` choose an official split of a UCF-101 root. Folders of a
    folder `src` that cannot be listed are appended to `unreadable` as (folder, reason)."""
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file or folder")
    if split is not None and not is_ucf_root(src):
        raise ValueError(f"{src}: --split needs a UCF-101 root (classInd.txt and split lists)")
    if src.is_file() and src.suffix.lower() in VIDEO_EXTENSIONS:
        return [Source(src.name, str(src))]  # one video given where its folder could have been
    if src.is_file():
        sources = []
        for line in read_text_lines(src, "input (not a folder or a video file, so a text list of videos)"):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            label = int(parts[1]) if len(parts) > 1 and parts[1].lstrip("-").isdigit() else -1
            sources.append(Source(parts[0], str(src.parent / parts[0]), label))
        return sources
    if is_ucf_root(src):
        items, classes = list_labelled(src, split, subset)
        return [Source(p.relative_to(src).as_posix(), str(p), label, classes[label]) for p, label in items]
    # thumbnails, notes and .DS_Store files are not inputs: reporting each as skipped would fail every run
    return _class_tree(src, sorted(p for p, _ in list_videos(src, unreadable)))


def _clip_stats(stats: list[dict]) -> dict:
    if not stats or "matches" not in stats[0]:
        return {}
    tracked = stats[1:] or stats  # a segment's first frame has no match to a previous frame
    return {"segment": stats[0]["segment"], "break": stats[0]["break"],
            "motion": dict(Counter(s["motion"] for s in tracked)),  # how frames were aligned: features, global, still
            "matches_min": min(s["matches"] for s in tracked), "matches_mean": float(np.mean([s["matches"] for s in tracked])),
            "error_mean": float(np.mean([s["error"] for s in tracked])), "error_max": max(s["error"] for s in tracked),
            "coverage_min": min(s["coverage"] for s in stats)}


def _segments(path: Path, fps: float, options: Options, cuts: Cuts):
    """(segment, frame size size 3, stats) per frame: a new segment at every pause in the timestamps, at
    every stretch of damaged or frozen frames cut out (counted in `cuts`) and, when stabilizing, at every
    stabilization break."""
    parts = iter_parts(path, fps=fps, short_side=max(2 * options.size, options.work_side), freeze=options.freeze,
                       cuts=cuts)
    offset = 0  # segments before this part
    for part, group in itertools.groupby(parts, key=lambda item: item[0]):
        frames = (frame for _, frame in group)
        gap = cuts.reasons[part]
        count = 0
        if options.stabilize:
            for s in Stabilizer(work_side=options.work_side).run(frames):
                count = s.segment + 1
                yield offset + s.segment, square(s.image, options.size), {
                    "segment": offset + s.segment, "break": s.break_reason or (gap if count == 1 else ""),
                    "matches": s.matches, "error": s.error, "coverage": s.coverage, "motion": s.motion}
        else:
            for frame in frames:
                count = 1
                yield offset, square(frame, options.size), {}
        offset += count


def process(source: Source, options: Options, writer: ShardWriter, scenes: SceneFilter | None = None) -> dict:
    """Cut one input into clips in `writer`, if `scenes` keeps its scene; returns its input record (never
    raises for bad input)."""
    record = {"source": source.id, "label": source.label, "class": source.label_name, "prepared": time.time()}
    path = Path(source.path)
    total, segments, clips, cuts = 0, 0, 0, Cuts()
    try:
        if path.suffix.lower() not in VIDEO_EXTENSIONS and not path.is_dir():
            raise DecodeError(f"not a video file (extension {path.suffix or 'none'!r})")
        if scenes is not None:
            record["scene"] = scenes.scene(path)
            if record["scene"] not in scenes.keep:
                result = {**record, "status": "skipped", "reason": f"scene {record['scene']!r} is not in --keep"}
                writer.end_input(result)
                return result
        fps = options.fps or probe(path).fps
        stream = _segments(path, fps, options, cuts)

        def counted():
            nonlocal total, segments
            for item in stream:
                total += 1
                segments = item[0] + 1
                yield item

        for clip in cut_clips(counted(), options.frames, options.stride, options.min_frames, options.pad):
            # surrogateescape: a file name that is not valid UTF-8 keeps its own bytes
            key = f"{hashlib.sha1(source.id.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}-{clip.start:06d}"
            writer.add_clip(key, clip.frames, {"source": source.id, "start": clip.start, "fps": fps,
                                               "padded": clip.padded, "label": source.label,
                                               "class": source.label_name, **_clip_stats(clip.stats)})
            clips += 1
    except OutputError:
        raise  # OUT, not this input, failed: recording a skip would make resuming pass over a good input
    except Exception as err:  # any failure on one file (even a codec bug) must not end the run
        expected = isinstance(err, (DecodeError, OSError))
        result = {**record, "status": "skipped", "reason": str(err) if expected else f"failed: {type(err).__name__}: {err}"}
        writer.end_input(result, keep_clips=False)
        return result
    cut = {"cut": cuts.counts()} if cuts.describe() else {}
    if clips == 0:
        if cuts.describe():
            reason = f"no clip left after cutting {cuts.describe()} ({total} frames kept, {segments} segment(s))"
        elif total <= 1:
            reason = f"{total} frame(s): not a video"
        elif segments > 1:
            reason = (f"no stable segment of --min-frames {options.min_frames} ({total} frames, {segments} segments)"
                      + ("; --no-stabilize keeps them unwarped" if options.stabilize else ""))
        else:
            reason = f"too short: {total} frames at {fps:g} fps < --min-frames {options.min_frames}"
        result = {**record, "status": "skipped", "reason": reason, **cut}
    else:
        result = {**record, "status": "ok", "clips": clips, "frames": total, "segments": segments, "fps": fps, **cut}
    writer.end_input(result)
    return result


def _prepare_all(sources, out: str, prefix: str, options: Options, shard_clips: int, clip_format: str,
                 scenes: SceneFilter | None) -> None:
    # published every few inputs, so a killed run loses little (shards.py)
    writer = ShardWriter(Path(out) / SHARD_DIR, prefix, shard_clips, clip_format=clip_format)
    try:
        for source in sources:
            process(source, options, writer, scenes)
    except OutputError:
        writer.abort()  # the shard may end in a torn clip: its inputs are prepared again by the next run
        raise
    finally:
        writer.close()


def report_output_error(err: OutputError) -> int:
    print(f"videogan prepare: error: {err}; inputs not recorded as done are retried by a re-run", file=sys.stderr)
    return 2


def _until_stopped(sources, stopped):
    """The sources until `stopped()`: the input being prepared when a stop comes is finished first."""
    for source in sources:
        if stopped():
            return
        yield source


def _worker(queue, stop, out: str, prefix: str, options: Options, shard_clips: int, clip_format: str,
            scenes: SceneFilter | None) -> None:
    ignore_stop_signals()  # the parent decides: it sets `stop`, and this worker publishes what it has done
    import cv2

    cv2.setNumThreads(1)  # one process per core: OpenCV's own threads would only contend
    try:
        _prepare_all(_until_stopped(iter(queue.get, None), stop.is_set), out, prefix, options, shard_clips, clip_format,
                     scenes)
    except OutputError as err:
        sys.exit(report_output_error(err))  # the parent lists this worker's inputs as unfinished


def _record_options(out: Path, options: Options) -> None:
    """Write OUT's options file, or check it: jobs of an array start together and only one may create it."""
    path, wanted = out / OPTIONS_FILE, asdict(options)
    with AtomicFile(path) as options_file:  # created only if absent, and complete: no job reads half of it
        options_file.write(json.dumps(wanted, indent=2).encode())
        options_file.commit(keep_existing=True)
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not the JSON `prepare` writes ({err}); use a new OUT folder") from None
    # an option newer than OUT's file is taken at its default: a run from before the option resumes
    saved = {**asdict(Options()), **saved} if isinstance(saved, dict) else saved
    if saved != wanted:
        differ = ", ".join(f"{k} {saved.get(k)!r} there, {v!r} here" for k, v in wanted.items() if saved.get(k) != v)
        raise ValueError(f"{path}: OUT was prepared with other options ({differ}); use a new OUT folder")


def latest_records(inputs: list[dict]) -> dict[str, dict]:
    """Each source's input record from its latest attempt (`--retry-skipped` adds attempts)."""
    latest: dict[str, dict] = {}
    for record in sorted(inputs, key=lambda r: r.get("prepared", 0.0)):
        latest[record["source"]] = record
    return latest


def _write_views(out: Path, unreadable: list[dict]) -> dict[str, dict]:
    """Rewrite manifest.jsonl and skipped.jsonl from every complete shard (and this run's `unreadable`
    folder records); returns each source's latest input record.

    Array jobs finish in any order and each rewrites these views. A job rewrites until no shard completed
    while it was writing, so whichever job renames last has seen every other job's shards (each job's
    shards complete before its own rename): no lock, which shared cluster file systems may lack.
    """
    folder, seen = out / SHARD_DIR, None
    while (shards := completed_shards(folder)) != seen:
        seen = shards
        clips, inputs = read_manifests(folder)
        latest = latest_records(inputs)
        write_atomic(out / "manifest.jsonl", "".join(json.dumps(c) + "\n" for c in clips))
        skipped = [{"source": r["source"], "reason": r["reason"], **({"scene": r["scene"]} if "scene" in r else {})}
                   for r in latest.values() if r["status"] == "skipped"]
        write_atomic(out / SKIPPED_FILE, "".join(json.dumps(r) + "\n" for r in skipped + unreadable))
    with writing(out), suppress(FileNotFoundError):
        (out / "skipped.tsv").unlink()  # older runs' view of the same shards, which broke on tabs and newlines
    return latest


@dataclass
class PrepareOutcome:
    """What a run of `prepare` did to its share of the inputs."""
    records: list[dict]  # each input's latest record, in input order
    unfinished: list[Source]  # inputs whose worker died
    unreadable: list[dict]  # {"source": folder, "reason": ...} of folders that could not be listed
    sources: list[Source]  # the share
    skipped_earlier: int  # skipped inputs this run did not try again (see --retry-skipped)
    stopped: str | None = None  # the signal that stopped the run early; `unfinished` then holds what is left


@contextmanager
def holding_share(out: Path, shard_index: int, num_shards: int):
    """This job's hold on its share of OUT: jobs of one array share OUT by design (their shards' names
    differ, `_write_views` merges them), so each locks its own share; a second job of the same share, or any
    job of another --num-shards (whose shares overlap), stops at once."""
    with hold_folder(out, f"prepare's OUT (share {shard_index} of {num_shards})",
                     f".prepare-share-{shard_index}-of-{num_shards}.lock"):
        for other in out.glob(".prepare-share-*-of-*.lock"):
            if not other.name.endswith(f"-of-{num_shards}.lock") and (holder := current_holder(other)):
                raise FolderBusy(f"{out}: prepare's OUT is being written with another --num-shards by "
                                 f"{describe_holder(holder)}; jobs that share OUT must split it the same way")
        yield


def run(src: Path, out: Path, options: Options, workers: int = 1, shard_index: int = 0, num_shards: int = 1,
        shard_clips: int = 256, progress=print, split: int | None = None, subset: str = "train",
        retry_skipped: bool = False, clip_format: str = DEFAULT_FORMAT,
        scenes: SceneFilter | None = None) -> PrepareOutcome:
    """Prepare this job's share of `src` into `out`, storing clips in `clip_format` (each clip's manifest
    line names its format, so runs into one `out` may differ) and keeping only the inputs `scenes` keeps.
    Raises OutputError if writing `out` fails."""
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"--shard-index must be in [0, {num_shards}), got {shard_index}")
    for flag, value in (("--workers", workers), ("--shard-clips", shard_clips), ("--num-shards", num_shards)):
        if value < 1:
            raise ValueError(f"{flag} must be positive, got {value}")
    folders: list[tuple[Path, str]] = []
    sources = list_sources(src, split, subset, folders)
    if not sources:
        unlisted = f"; {len(folders)} folder(s) could not be listed ({folders[0][1]})" if folders else ""
        raise ValueError(f"{src}: no inputs found (no video file {'/'.join(VIDEO_EXTENSIONS)} and no folder "
                         f"of numbered frames){unlisted}")
    unreadable = [{"source": (folder.relative_to(src).as_posix() or ".") + "/", "reason": f"unreadable folder ({why})"}
                  for folder, why in folders]
    with holding_share(out, shard_index, num_shards):
        return _run_share(out, options, workers, shard_index, num_shards, shard_clips, progress, sources, unreadable,
                          retry_skipped, clip_format, scenes)


def _run_share(out: Path, options: Options, workers: int, shard_index: int, num_shards: int, shard_clips: int,
               progress, sources: list[Source], unreadable: list[dict], retry_skipped: bool, clip_format: str,
               scenes: SceneFilter | None) -> PrepareOutcome:
    _record_options(out, options)
    removed = sum(remove_stale_temporaries(folder, quiet=True) for folder in (out, out / SHARD_DIR))
    if removed:
        progress(f"removed {removed} temporary file(s) left by killed runs")
    share = sources[shard_index::num_shards]
    earlier = latest_records(read_manifests(out / SHARD_DIR)[1])
    retried = {s.id for s in share if retry_skipped and earlier.get(s.id, {}).get("status") == "skipped"}
    todo = [s for s in share if s.id not in earlier or s.id in retried]
    progress(f"{len(share)} inputs in this share, {len(share) - len(todo)} already done"
             f"{f' ({len(retried)} skipped before, tried again)' if retried else ''}, {len(todo)} to prepare")
    prefix = f"{shard_index:04d}-{uuid.uuid4().hex[:8]}"  # unique per run: array jobs share `out`
    count = max(1, min(workers, len(todo)))
    with StopRequest() as request:
        if count == 1:
            _prepare_all(_until_stopped(todo, lambda: request.requested), str(out), prefix, options, shard_clips,
                         clip_format, scenes)
        else:
            ctx = helper_context("spawn")  # no fork: OpenCV and PyAV threads do not survive it reliably
            queue, stop = ctx.Queue(), ctx.Event()
            for source in todo + [None] * count:
                queue.put(source)
            procs = [ctx.Process(target=_worker, args=(queue, stop, str(out), f"{prefix}-w{w}", options, shard_clips,
                                                       clip_format, scenes)) for w in range(count)]
            for proc in procs:
                proc.start()
            for proc in procs:
                while proc.is_alive():
                    proc.join(timeout=0.2)
                    if request.requested:
                        stop.set()
    by_source = _write_views(out, unreadable)
    records = [by_source[s.id] for s in share if s.id in by_source]
    unfinished = [s for s in share if s.id not in by_source]
    skipped_earlier = sum(earlier.get(s.id, {}).get("status") == "skipped" for s in share if s.id not in retried)
    return PrepareOutcome(records, unfinished, unreadable, share, skipped_earlier, request.requested)


def cut_summary(records: list[dict]) -> str:
    """One line totalling the frames cut from the inputs (their records' "cut"), or "" if none were."""
    cut = [r["cut"] for r in records if "cut" in r]
    if not cut:
        return ""
    total = Cuts(**{key: sum(c.get(key, 0) for c in cut) for key in Cuts().counts()})
    return f"cut from {len(cut)} input(s): {total.describe()} (per input: the 'cut' of its record in shards/*.jsonl)"
