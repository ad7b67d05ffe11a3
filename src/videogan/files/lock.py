"""One writer per folder: an advisory lock that a second process finds at once.

`hold_folder(folder, what)` takes `fcntl.flock` on a lock file in the folder and writes the holder's host,
pid and start time into it. The kernel releases the lock when its holder dies (kill -9 included), so a
lock left by a dead process is free; when a process of this host that is gone still appears to hold it (a
child it forked keeps the open file), the lock file is replaced, with a note. A second process stops at
once with a `FolderBusy` naming the holder.

On a shared file system the lock is as good as the file system's locking: NFSv4 and Lustre (mounted with
`flock`) lock across hosts, NFSv3 needs its lock daemon, and some mounts (`nolock`, `localflock`) lock per
host only (docs/data.md).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .atomic import OutputError, os_reason, process_alive, writing


class FolderBusy(OutputError):
    """Another process writes into the folder."""


def _holder_of(path: Path) -> dict:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def describe_holder(holder: dict) -> str:
    since = holder.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else "?"
    return (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} since {when}"
            + (f" ({holder['command']})" if holder.get("command") else ""))


def _dead_here(holder: dict) -> bool:
    pid = holder.get("pid")
    return holder.get("host") == socket.gethostname() and isinstance(pid, int) and not process_alive(pid)


def current_holder(path: str | os.PathLike) -> dict | None:
    """The holder written in the lock file `path` while a process holds its lock; None when it is free."""
    path = Path(path)
    if not path.is_file():
        return None
    fd = _try_lock(path)
    if fd is None:
        return _holder_of(path)
    os.close(fd)
    return None


# flock's answers where a file system has no locks (Lustre mounted `noflock`, NFS without its lock daemon)
NO_LOCKS = (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL)


def _try_lock(path: Path) -> int | None:
    """An open descriptor of `path` holding its lock (or, on a file system without locks, not holding
    one: with a note), or None when another process holds it."""
    # no symlinks: a link planted in a shared folder would have the holder's line (and its emptying at the end)
    # written into the file it points to
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError as err:
        if err.errno not in NO_LOCKS:
            os.close(fd)
            raise
        print(f"videogan: note: {path}: this file system has no locks ({os_reason(err)}); make sure no other "
              f"process writes into {path.parent}", file=sys.stderr)
    return fd


@contextmanager
def hold_folder(folder: str | os.PathLike, what: str, name: str = ".videogan.lock"):
    """Hold `folder` (created if need be) as its only writer for the block; `what` names the folder in
    messages ("run folder", "prepare's OUT"). `name` picks the lock file, for writers that may share a
    folder by design (a job array's jobs each lock their own share)."""
    folder = Path(folder)
    path = folder / name
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        fd = _try_lock(path)
        if fd is None and _dead_here(holder := _holder_of(path)):
            print(f"videogan: note: {path}: taking over the lock of {describe_holder(holder)}, which is no longer "
                  f"running", file=sys.stderr)
            path.unlink(missing_ok=True)  # its holder's children may keep the old file open: a new file
            fd = _try_lock(path)
    if fd is None:
        holder = _holder_of(path)
        raise FolderBusy(f"{folder}: {what} is in use by {describe_holder(holder)}; wait for it to finish, or choose "
                         f"another folder (lock file {path})")
    try:
        previous = _holder_of(path)  # a holder that ended normally emptied the file
        if previous:
            print(f"videogan: note: {path}: {describe_holder(previous)} was stopped while holding {folder}; taking "
                  f"it over", file=sys.stderr)
        me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time(),
              "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300]}
        with writing(path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        yield path
    finally:
        # an empty file means released; it stays, so that no second writer races on its creation
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)
