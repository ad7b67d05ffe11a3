"""Prepared shards at a URL (`--data https://host/prepared`, `s3://bucket/prepared`, ...): where they are
and how each one is fetched, through fsspec. The URL names the folder `videogan prepare` wrote (the one
holding `shards/`). Protocols other than http(s) and file need fsspec's backend for them (s3fs, gcsfs, ...);
without it the user gets one line naming the package.

A shard is fetched as its small JSONL manifest, read whole, and its tar, read front to back as a stream
(tarfile's `r|` mode): no seeking, so any server that serves files works, ranges or not.
"""
from __future__ import annotations

import re
import tarfile
from typing import Iterator

from .clip_formats import FORMATS
from .shards import SHARD_DIR, parse_manifest

_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
CONNECT_TIMEOUT_S = 30.0
READ_TIMEOUT_S = 60.0
STREAM_READ = 1 << 20  # a server that stops sending for this long fails the shard (then retried)


def is_url(path) -> bool:
    return _URL.match(str(path)) is not None


def open_filesystem(url: str):
    """(fsspec filesystem, path within it) for `url`; an unknown protocol or a missing backend is a
    ValueError naming what to install."""
    import fsspec
    from fsspec.registry import known_implementations

    protocol = _URL.match(url).group(1).lower()
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise ValueError(f"--data {url}: unknown protocol {protocol}:// (not one fsspec reads)") from None
    except ImportError:
        hint = known_implementations.get(protocol, {}).get("err", "")
        package = re.search(r"install (\S+)", hint, re.IGNORECASE)
        needed = f"pip install {package.group(1).rstrip('.')}" if package else "install its fsspec backend"
        raise ValueError(f"--data {url}: {protocol}:// is read through a package not installed here ({needed})") from None
    options = {}
    if protocol in ("http", "https"):
        import aiohttp

        options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S)}
    # a fresh instance: fsspec caches them per process, and a loader worker must not share its parent's
    return fsspec.core.url_to_fs(url, skip_instance_cache=True, **options)


def list_shards(url: str) -> list[str]:
    """URLs of the complete shards (tar and manifest both present) under `url`/shards/, in name order.
    Needs a listing: object stores give one, and so do web servers that index folders (nginx
    `autoindex`, `python -m http.server`)."""
    url = url.rstrip("/")
    fs, _ = open_filesystem(url)
    folder = f"{url}/{SHARD_DIR}/"
    try:
        names = {entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(folder, detail=False)}
    except Exception as err:  # whatever the transport raises (no such folder, refused, no listing)
        raise ValueError(f"--data {url}: cannot list {folder} ({type(err).__name__}: {err})") from None
    stems = sorted(name[:-len(".tar")] for name in names if name.endswith(".tar") and name[:-4] + ".jsonl" in names)
    if not stems:
        raise ValueError(f"--data {url}: no complete shards in {folder} (a NAME.tar with its NAME.jsonl)")
    return [f"{folder}{stem}" for stem in stems]


def read_manifest(fs, shard: str) -> dict[str, dict]:
    """The clip lines of `shard`'s manifest by member name (`KEY.jpg`), each checked as a local manifest's
    are (`shards.parse_manifest`: a bad line is skipped with a warning naming URL:line)."""
    clips, _ = parse_manifest(fs.cat_file(f"{shard}.jsonl"), f"{shard}.jsonl", shard.rsplit("/", 1)[-1], None)
    return {record["key"] + FORMATS[record.get("format", "raw")].suffix: record for record in clips}


def stream_members(fs, shard: str, records: dict[str, dict], skip: int) -> Iterator[tuple[dict, bytes]]:
    """(manifest line, bytes) of each clip in `shard`'s tar, in tar order, after the first `skip` (bytes
    are checked when decoded: `shards.decode_clip`). A member the manifest does not list is passed over;
    the transport's errors (reset, timeout, truncated body) pass through to the caller, which retries."""
    seen = 0
    # block_size=0: one streamed GET (fsspec's http otherwise asks for ranges, which not every server has)
    options = {"block_size": 0} if fs.protocol[0] in ("http", "https") else {}
    # reads of STREAM_READ bytes: each is a round trip to fsspec's event loop, tarfile's 10 KB made them many
    with fs.open(f"{shard}.tar", "rb", **options) as raw, \
            tarfile.open(fileobj=raw, mode="r|", bufsize=STREAM_READ) as tar:
        for member in tar:
            record = records.get(member.name)
            if record is None or not member.isfile():
                continue
            if member.size != record["nbytes"]:  # checked before reading: a member may claim any size
                raise ValueError(f"member {member.name} holds {member.size} bytes, its manifest says {record['nbytes']}")
            seen += 1
            if seen <= skip:
                continue
            yield record, tar.extractfile(member).read()
    if seen < len(records):  # a body cut at a member boundary reads as a short, valid stream
        raise EOFError(f"the tar ended after {seen} of its manifest's {len(records)} clips")
