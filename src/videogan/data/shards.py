"""Storage of prepared clips: tar shards of clip files (t h w 3 uint8, JPEG strips by default; clip_formats.py)
with a JSONL manifest beside each.

A shard `NAME.tar` is trusted only when `NAME.jsonl` exists too. Both are written as `files.AtomicFile`s
(temporaries unique to the writing process and host, renamed into place), manifest first, so a killed run
leaves temporaries (ignored, and deleted by the next run on the same host once their process is gone:
`files.remove_stale_temporaries`) or a manifest without its tar (ignored), never a tar a reader would believe
complete. Failing to write raises `OutputError`: unlike bad input, it must stop a run.

A shard is published after `max_clips` clips, `max_inputs` inputs or `max_seconds` of work, whichever comes
first, so a killed run loses at most a few inputs' work.

Manifest lines are `{"type": "clip", ...}` (one per clip, with the byte range of its member in the tar, so
readers seek straight to it, its `format` (absent: `raw`, the only one before formats) and the `crc32` of
its bytes, so damage is found, not decoded into a wrong clip) and `{"type": "input", "source": ...,
"status": "ok" | "skipped", ...}` (one per input, written after all of that input's clips: inputs never
span shards). Plain tar means shards can be
copied, listed and streamed with ordinary tools.
"""
from __future__ import annotations

import io
import json
import logging
import math
import os
import tarfile
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np

from ..files import AtomicFile, write_atomic, writing
from .clip_formats import DEFAULT_FORMAT, FORMATS, get_format

SHARD_DIR = "shards"
log = logging.getLogger(__name__)


class ShardWriter:
    """Writes clips into `folder/PREFIX-NNNNN.tar` in `clip_format`, starting a new shard after `max_clips` clips."""

    def __init__(self, folder: str | os.PathLike, prefix: str, max_clips: int = 256, max_inputs: int = 4,
                 max_seconds: float = 60.0, clip_format: str = DEFAULT_FORMAT):
        self.folder, self.prefix, self.max_clips = Path(folder), prefix, max_clips
        self.format = get_format(clip_format)
        self.max_inputs, self.max_seconds = max_inputs, max_seconds
        self.folder.mkdir(parents=True, exist_ok=True)
        self._count = 0
        self._tar = None
        self._started = time.monotonic()
        self._lines: list[dict] = []  # finished inputs' lines in the open shard
        self._pending: list[dict] = []  # the current input's clip lines, kept only if it finishes

    def _open(self):
        self._name = f"{self.prefix}-{self._count:05d}"
        self._count += 1
        self._file = AtomicFile(self.folder / f"{self._name}.tar")
        with writing(self._file.path):
            self._tar = tarfile.open(fileobj=self._file.file, mode="w", format=tarfile.USTAR_FORMAT)

    def add_clip(self, key: str, video: np.ndarray, meta: dict) -> None:
        """Store one clip (t h w 3 uint8); `meta` goes into its manifest line."""
        if self._tar is None:
            self._open()
        data = self.format.encode(np.ascontiguousarray(video, dtype=np.uint8))
        info = tarfile.TarInfo(f"{key}{self.format.suffix}")
        info.size = len(data)
        offset = self._tar.offset + len(info.tobuf(tarfile.USTAR_FORMAT))  # data follows its header
        with writing(self._file.path):
            self._tar.addfile(info, io.BytesIO(data))
        self._pending.append({"type": "clip", "shard": self._name, "key": key, "offset": offset,
                              "nbytes": info.size, "frames": int(video.shape[0]), "height": int(video.shape[1]),
                              "width": int(video.shape[2]), "format": self.format.name,
                              "crc32": zlib.crc32(data), **meta})

    def end_input(self, record: dict, keep_clips: bool = True) -> None:
        """Close an input: its clips count only if `keep_clips` (an input that failed midway drops them)."""
        if keep_clips:
            self._lines.extend(self._pending)
        self._pending = []
        self._lines.append({"type": "input", **record})
        inputs = sum(line["type"] == "input" for line in self._lines)
        if (len(self._lines) - inputs >= self.max_clips or inputs >= self.max_inputs
                or time.monotonic() - self._started >= self.max_seconds):
            self.close()

    def close(self) -> None:
        """Publish the open shard (a shard with inputs but no clips still records them as done)."""
        if not self._lines:
            return
        if self._tar is None:
            self._open()
        with writing(self._file.path):
            self._tar.close()  # the end-of-archive blocks; the file stays open for the commit
        write_atomic(self.folder / f"{self._name}.jsonl", "".join(json.dumps(line) + "\n" for line in self._lines))
        self._file.commit()
        self._tar, self._lines, self._started = None, [], time.monotonic()

    def abort(self) -> None:
        """Drop the open shard unpublished (after an OutputError it may end in a torn clip)."""
        if self._tar is not None:
            self._file.discard()
        self._tar, self._lines, self._pending = None, [], []


def completed_shards(folder: str | os.PathLike) -> list[Path]:
    """Manifests of complete shards (both `.tar` and `.jsonl` present), in name order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.jsonl") if p.with_suffix(".tar").is_file())


def _whole(value, least: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _clip_problem(record: dict, shard: str, tar_size: int | None) -> str | None:
    """What keeps a clip line from pointing at a member of its own shard's tar, or None."""
    if record.get("shard") != shard:
        return f"shard {record.get('shard')!r} is not this manifest's shard {shard!r}"
    if not (isinstance(record.get("key"), str) and record["key"]):
        return "no key"
    if not isinstance(record.get("source"), str):
        return "no source"
    for field, least in (("offset", 0), ("nbytes", 0), ("frames", 1)):
        if not _whole(record.get(field), least):
            return f"{field} {record.get(field)!r} is not a whole number >= {least}"
    if tar_size is not None and record["offset"] + record["nbytes"] > tar_size:
        return f"bytes {record['offset']}..{record['offset'] + record['nbytes']} lie outside the {tar_size}-byte tar"
    # a newer version's format, or a hand-edited one; a list, as a JSON list is unhashable
    if record.get("format", "raw") not in list(FORMATS):
        return f"unknown clip format {record['format']!r} (this version reads {', '.join(FORMATS)})"
    if "crc32" in record and not (_whole(record["crc32"]) and record["crc32"] < 2 ** 32):
        return f"crc32 {record['crc32']!r} is not a 32-bit checksum"
    for field in ("height", "width"):  # written since this check exists; older lines lack them
        if field in record and not _whole(record[field], 1):
            return f"{field} {record[field]!r} is not a whole number >= 1"
    if "label" in record and not _whole(record["label"], -1):
        return f"label {record['label']!r} is not a class number"
    return None


def _input_problem(record: dict) -> str | None:
    if not isinstance(record.get("source"), str):
        return "no source"
    if record.get("status") not in ("ok", "skipped"):
        return f"status {record.get('status')!r} is not ok or skipped"
    if record["status"] == "skipped" and not isinstance(record.get("reason"), str):
        return "a skipped input without its reason"
    prepared = record.get("prepared", 0.0)
    if isinstance(prepared, bool) or not isinstance(prepared, (int, float)) or not math.isfinite(prepared):
        return f"prepared {prepared!r} is not a time"
    return None


def read_manifest(manifest: Path) -> tuple[list[dict], list[dict]]:
    """(clip lines, input lines) of one complete shard's manifest, each checked against what its readers
    use; a line that is not one (torn, another type, an offset outside the tar, ...) is skipped with a
    warning naming `manifest:line`, as the loader skips a damaged clip."""
    return parse_manifest(manifest.read_bytes(), str(manifest), manifest.stem,
                          manifest.with_suffix(".tar").stat().st_size)


def parse_manifest(data: bytes, name: str, shard: str, tar_size: int | None) -> tuple[list[dict], list[dict]]:
    """`read_manifest` for a manifest's bytes from anywhere (a local file, a URL: `name` says which in the
    warnings); `tar_size` None: the tar's size is not known, so offsets are not checked against it. A clip's
    second line (same key) is skipped like a damaged one."""
    clips, inputs, clip_lines = [], [], {}
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError) as err:  # torn or not UTF-8: JSONDecodeError, UnicodeDecodeError
            problem = f"not a JSON line ({err})"
        else:
            kind = record.get("type") if isinstance(record, dict) else None
            problem = (_clip_problem(record, shard, tar_size) if kind == "clip"
                       else _input_problem(record) if kind == "input"
                       else f"type {kind!r} is not clip or input" if isinstance(record, dict)
                       else "not a JSON object")
            if not problem and kind == "clip":
                # a repeated line (a copy, a bad merge) would serve its clip twice as often
                first = clip_lines.setdefault(record["key"], number)
                problem = f"a second line for clip {record['key']!r} (the first is line {first})" if first != number \
                    else None
        if problem:
            log.warning("skipping %s:%d: %s", name, number, textwrap.shorten(problem, 200))
        else:
            (clips if kind == "clip" else inputs).append(record)
    return clips, inputs


def read_manifests(folder: str | os.PathLike) -> tuple[list[dict], list[dict]]:
    """(clip lines, input lines) of every complete shard in `folder` (see `read_manifest`); an input prepared
    again (`prepare --retry-skipped`) has a line per attempt, in no particular order (each has its
    `prepared` time)."""
    clips, inputs = [], []
    for manifest in completed_shards(folder):
        more_clips, more_inputs = read_manifest(manifest)
        clips += more_clips
        inputs += more_inputs
    return clips, inputs


def load_clip(folder: str | os.PathLike, record: dict) -> np.ndarray:
    """The clip (t h w 3 uint8) a manifest line (checked by `read_manifest`) points to, read by seeking into
    its shard. A damaged clip raises ValueError naming the shard and member."""
    shard = Path(folder) / f"{record['shard']}.tar"
    with open(shard, "rb") as f:
        f.seek(record["offset"])
        data = f.read(record["nbytes"])
    return decode_clip(shard, record, data)


def decode_clip(shard, record: dict, data: bytes) -> np.ndarray:
    """The clip (t h w 3 uint8) in `data`, the bytes of `record`'s member of `shard` (a path or URL), after
    checking them against the manifest line; ValueError naming the shard and member if they are damaged."""
    if len(data) != record["nbytes"]:
        raise ValueError(f"shard {shard} is shorter than its manifest says")
    clip_format = get_format(record.get("format", "raw"))  # `read_manifest` let only known ones through
    member = f"shard {shard} member {record['key']}{clip_format.suffix}"
    if "crc32" in record and zlib.crc32(data) != record["crc32"]:
        raise ValueError(f"{member}: damaged (its bytes' checksum differs from the manifest's)")
    try:
        clip = clip_format.decode(data, record["frames"])
    except Exception as err:  # whatever the decoder makes of damaged bytes, the member must be named
        raise ValueError(f"{member}: not a readable {clip_format.name} clip ({err})") from None
    # a damaged header may decode to another frame size (a JPEG's width is two bytes of its header)
    expected = tuple(record.get(field, size) for field, size in (("height", clip.shape[1]), ("width", clip.shape[2])))
    if clip.shape[1:3] != expected:
        raise ValueError(f"{member}: not a readable {clip_format.name} clip (frames of "
                         f"{clip.shape[2]}x{clip.shape[1]}, not the manifest's {expected[1]}x{expected[0]})")
    return clip
