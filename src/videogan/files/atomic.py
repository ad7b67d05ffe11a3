"""Writes that a reader sees whole or not at all, and the cleanup of what killed writers left.

Every file the project writes goes through `AtomicFile` (or `write_atomic`, its one-call form): the content
goes to a temporary file in the target's own folder (so the final rename is one atomic step of one file
system), is flushed and fsynced, and is renamed over the target. On any failure the temporary is removed
and the target is untouched; an OSError becomes an `OutputError` naming the target and the reason ("no
space left on device"), which the command line prints as one line.

A temporary's name says who writes it: `.NAME.HOST-PID-RANDOM.tmp`. Writers on several hosts (a job array
on a shared file system) never pick the same name, and `remove_stale_temporaries` deletes exactly the
temporaries of dead processes of this host, never a live writer's or another host's.
"""
from __future__ import annotations

import os
import re
import socket
import sys
import uuid
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, Callable


class OutputError(Exception):
    """Writing an output failed or would harm existing files (disk full, permissions, a file of another kind
    in the way): the command stops with one line naming the path and the reason (exit 2), and what it was
    working on is not recorded as done."""


def os_reason(err: OSError) -> str:
    text = err.strerror or str(err)
    return text[:1].lower() + text[1:]


@contextmanager
def writing(path: str | os.PathLike):
    """Turn an OSError while writing `path` into an OutputError naming it."""
    try:
        yield
    except OSError as err:
        raise OutputError(f"{path}: cannot write: {os_reason(err)}") from err


def temporary_name(path: str | os.PathLike) -> Path:
    """A hidden name beside `path` that no other process, on this host or another, uses."""
    path = Path(path)
    return path.with_name(f".{path.name}.{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


class AtomicFile:
    """A binary file that replaces `path` when committed and leaves no trace when discarded.

    As a context manager it commits when the block ends normally and discards on any exception (Ctrl-C
    included). Long-lived writers (a tar shard filled input by input) call `commit` / `discard` themselves.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file() and not self.path.is_dir():
            # a rename over /dev/null or a FIFO would replace the node itself (for root: the machine's)
            raise OutputError(f"{self.path}: cannot write: a device, pipe or socket, not a file")
        self.temporary = temporary_name(self.path)
        with writing(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file: BinaryIO = open(self.temporary, "xb")
        self.finished = False

    def write(self, data) -> None:
        with writing(self.path):
            self.file.write(data)

    def commit(self, keep_existing: bool = False) -> bool:
        """Put the file in place; with `keep_existing` only if `path` does not exist yet (jobs of an array
        that start together: exactly one creates it, complete). Returns whether it was put in place."""
        self.finished = True
        try:
            with writing(self.path):
                self.file.flush()
                os.fsync(self.file.fileno())
                self.file.close()
                if not keep_existing:
                    os.replace(self.temporary, self.path)
                else:
                    try:
                        os.link(self.temporary, self.path)  # fails if `path` exists: never replaces it
                    except FileExistsError:
                        return False
                    finally:
                        self.temporary.unlink(missing_ok=True)
        except BaseException:
            self.discard()
            raise
        _sync_folder(self.path.parent)
        return True

    def discard(self) -> None:
        self.finished = True
        with suppress(OSError):  # flushing may fail again (disk full); the file is deleted anyway
            self.file.close()
        self.temporary.unlink(missing_ok=True)

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if self.finished:
            return
        if kind is None:
            self.commit()
            return
        self.discard()
        if isinstance(error, OSError):
            raise OutputError(f"{self.path}: cannot write: {os_reason(error)}") from error


def write_atomic(path: str | os.PathLike, content: str | bytes | memoryview | Callable[[BinaryIO], object]) -> Path:
    """Replace `path` by `content` at once: text (UTF-8), bytes, or a function that writes into the open
    binary file (PIL, PyAV, matplotlib, numpy). Libraries that report a failed write in their own words
    (torch.save's "unexpected pos") should serialise into memory and pass the bytes."""
    with AtomicFile(path) as target:
        if callable(content):
            content(target.file)
        else:
            target.write(content.encode() if isinstance(content, str) else content)
    return target.path


def write_torch(path: str | os.PathLike, obj) -> Path:
    """`torch.save(obj)` written atomically. Serialised in memory first: torch reports a failed write of its
    own file in its own words ("unexpected pos 704 vs 598"), `write_atomic` names the file and the reason."""
    import io

    import torch  # here: the command line imports this package before it needs torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_atomic(path, buffer.getbuffer())


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (a crash right after it could otherwise bring the old file back)."""
    with suppress(OSError):  # not every file system lets a folder be opened or synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _writer_pid(name: str, host: str) -> int | None:
    """The pid of the process of this host that wrote the temporary `name`, or None (not a temporary of
    ours, or another host's). Names of earlier versions (`.NAME.tmpPID`, `NAME.PID-RANDOM.tmp`) were always
    written on the host that reads them."""
    for pattern in (rf"\.{re.escape(host)}-(\d+)-[0-9a-f]{{8}}\.tmp", r"\.(\d+)-[0-9a-f]{8}\.tmp", r"\.tmp(\d+)"):
        if match := re.search(pattern + "$", name):
            return int(match.group(1))
    return None


def remove_stale_temporaries(folder: str | os.PathLike, quiet: bool = False) -> int:
    """Delete the temporaries in `folder` whose writer, a process of this host, is gone; returns how many.

    Call it before this process writes in `folder`: a temporary named with this process's own pid comes
    from an earlier process that had the same pid (containers reuse small pids). Another host's
    temporaries are left alone: a job there may still be writing them.
    """
    host, removed, freed = socket.gethostname(), 0, 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        pid = _writer_pid(path.name, host) if ".tmp" in path.name else None
        if pid is None or (pid != os.getpid() and process_alive(pid)) or not path.is_file():
            continue
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:  # removed by another process starting at the same time (a torchrun rank)
            continue
        removed, freed = removed + 1, freed + size
    if removed and not quiet:
        print(f"videogan: removed {removed} unfinished write(s) of killed runs ({freed / 1e6:.1f} MB) in {folder}",
              file=sys.stderr)
    return removed
