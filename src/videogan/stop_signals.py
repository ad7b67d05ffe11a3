"""Stop signals from people and schedulers: the main process decides, its helpers carry on.

`timeout`, `kill -- -PGID`, Slurm and Kubernetes send SIGTERM to every process of a job, a terminal's
Ctrl-C sends SIGINT to every process of its foreground group. A loader worker or pool process that died of
it would take the run down with a traceback; so helpers ignore both (`ignore_stop_signals`, their
initializer) and the main process turns them into a request (`StopRequest`) that it honours at its next
safe point: a checkpoint, a published shard. A helper starts with both blocked (`helper_context`), so that
a signal in the instant before its initializer runs waits for it instead of killing it.
"""
from __future__ import annotations

import multiprocessing
import signal
import sys
import time
from contextlib import contextmanager
from multiprocessing import context as mp_context

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# torchrun forwards the group's signal to its ranks, which got it already: a repeat this soon is the same
# request, not a second Ctrl-C
REPEAT_WINDOW_S = 2.0
HANG_UPS = (ConnectionError, EOFError)


def ignore_stop_signals(*_) -> None:
    """Initializer of a helper process (DataLoader's `worker_init_fn`, a pool's initializer): the main
    process decides when to stop, and then shuts its helpers down."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # blocked since its start (helper_context): what came is discarded
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    sys.excepthook = _quiet_when_the_main_process_hangs_up(sys.excepthook)


class _StartsBlocked:
    """A process that starts with the stop signals blocked (children inherit the mask, across exec too)."""

    def start(self):
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # the main process's own signal arrives now


_BLOCKED_CONTEXTS: dict[str, type] = {}
if hasattr(signal, "pthread_sigmask"):  # POSIX (Windows has neither masks nor fork)
    # module-level classes: a spawned child unpickles its process object by name
    class _ForkProcess(_StartsBlocked, mp_context.ForkProcess):
        pass

    class _SpawnProcess(_StartsBlocked, mp_context.SpawnProcess):
        pass

    class _ForkContext(mp_context.ForkContext):
        Process = _ForkProcess

    class _SpawnContext(mp_context.SpawnContext):
        Process = _SpawnProcess

    _BLOCKED_CONTEXTS = {"fork": _ForkContext, "spawn": _SpawnContext}


def helper_context(method: str | None = None) -> mp_context.BaseContext:
    """The multiprocessing context for helpers that run `ignore_stop_signals` first (a DataLoader's
    `multiprocessing_context`, prepare's pool): a SIGTERM to the group between a helper's start and its
    initializer (milliseconds after a fork, seconds of imports after a spawn) would kill it. Fork and spawn
    start their children blocked; forkserver's children come from the server, not from us, and Windows has
    no signal masks: there the context is the plain one."""
    method = method or multiprocessing.get_start_method()
    blocked = _BLOCKED_CONTEXTS.get(method)
    return blocked() if blocked else multiprocessing.get_context(method)


def helper_loader_options(workers: int) -> dict:
    """A DataLoader's options for `workers` helper processes that leave stopping to the main process."""
    return {"num_workers": workers, "worker_init_fn": ignore_stop_signals,
            "multiprocessing_context": helper_context() if workers > 0 else None}


def _quiet_when_the_main_process_hangs_up(hook):
    """`hook` without the connection errors of a main process that is shutting this helper down: a loader
    worker hands each batch's file descriptors over a connection (multiprocessing's resource sharer), whose
    thread would print the main process's hang-up as a traceback after a SIGTERM to the whole group. A
    hang-up reads as any connection error or, when it comes between connecting and asking, as the end of
    the stream (EOFError)."""
    def excepthook(kind, value, traceback):
        if not issubclass(kind, HANG_UPS):
            hook(kind, value, traceback)
    return excepthook


class StopNow(Exception):
    """A stop request that broke a wait (`StopRequest.interruptible`): the state is as before the wait."""


class StopRequest:
    """Turns Ctrl-C / SIGTERM into a flag the main loop checks at its safe points, so that what it saves is
    consistent. A second Ctrl-C (not a repeat within `REPEAT_WINDOW_S`) means "now": KeyboardInterrupt. A
    second SIGTERM changes nothing: a scheduler that means "now" sends SIGKILL."""

    def __init__(self):
        self.requested: str | None = None  # the signal's name
        self._first, self._waiting, self._previous = 0.0, False, {}

    def __enter__(self) -> "StopRequest":
        for sig in STOP_SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            if signum == signal.SIGINT and time.monotonic() - self._first > REPEAT_WINDOW_S:
                raise KeyboardInterrupt
            return
        self.requested, self._first = signal.Signals(signum).name, time.monotonic()
        if self._waiting:
            self._waiting = False
            raise StopNow(self.requested)

    @contextmanager
    def interruptible(self):
        """A wait that the first stop request breaks with `StopNow` (building a huge first batch can take
        minutes); use it only where abandoning the wait leaves nothing half done."""
        if self.requested:
            raise StopNow(self.requested)
        self._waiting = True
        try:
            yield
        finally:
            self._waiting = False

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
