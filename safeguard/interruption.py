"""Interruption: SIGINT and SIGTERM during an operation are failures of the run, not exits.

A deploy stops a migration with a signal (a CI job cancelled, a pod replaced, `systemctl
stop`, Ctrl-C). Exiting at once would leave the database half-migrated with the snapshot
unused. Instead, for the duration of one operation (`handling`), the two signals are
caught and acted on in the regions that say what a signal may do there:

    stoppable(cancel)   the first signal raises `Interrupted` in the main thread at the
                        next bytecode, and ``cancel`` runs in a watcher thread at once,
                        to stop a statement the main thread is blocked in (a SQLite
                        query computed in C, a PostgreSQL statement on the server):
                        planning, a snapshot being written, the revisions running, the
                        health checks, a manual restore before its swap
    finishing(what)     signals are noted and the process says that ``what`` is
                        finishing: the restore after a failure, a swap. Sticky: a
                        stoppable region inside it is not armed. Only SIGKILL stops
                        these, and `safeguard recover` then finishes them from the
                        journal
    anywhere else       signals are noted; the next stoppable region raises at its
                        start, and `check()` raises at a safe point

Only the first signal of a region raises: the cleanup it sets off (a transaction rolled
back, a partial snapshot removed) runs while later signals are only noted.

The caller's process is left as it was found: the handlers are installed only in the
main thread (Python delivers signals nowhere else; from another thread `handling` does
nothing and signals keep their old meaning) and restored when the operation ends, and
the wakeup fd and watcher thread exist only inside a stoppable region with a canceller.
A signal noted but never reported (it arrived after the operation had finished) is
delivered again to the restored handler; an operation that fails reports it instead.

`Interrupted` subclasses KeyboardInterrupt on purpose: drivers treat that as a request to
cancel the statement and keep the connection usable (psycopg 3 does), and SQLAlchemy
invalidates the connection it escaped from.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: How long after an interruption Python dropped (see handling) it is sent again.
AGAIN_S = 0.02

Cancel = Callable[[], None]


class Interrupted(KeyboardInterrupt):
    """Raised into the running work by SIGINT or SIGTERM (see the module doc)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum

    @property
    def name(self) -> str:
        return signal_name(self.signum)


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@dataclass
class _State:
    """What one operation's handlers have seen, and what they may do now."""

    signum: int | None = None
    #: True when the first signal has been raised as Interrupted (or reported): the
    #: operation's outcome names it, so it is not delivered again at the end.
    consumed: bool = False
    armed: bool = False
    finishing: list[str] = field(default_factory=list)

    def on_signal(self, signum: int, _frame: object) -> None:
        if self.signum is None:
            self.signum = signum
        if self.armed and not self.finishing:
            self.armed = False
            self.consumed = True
            raise Interrupted(signum)
        if self.finishing:
            # os.write is safe in a handler; logging and click (which lock) are not.
            os.write(2, (f"safeguard: {signal_name(signum)}: {self.finishing[-1]} is finishing; "
                         "only SIGKILL can stop it now (then `safeguard recover` finishes "
                         "it)\n").encode())


_active: _State | None = None


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Catch SIGINT and SIGTERM for the body (one operation). A no-op off the main
    thread, and inside another `handling` (the outer one keeps them)."""
    global _active
    if _active is not None or threading.current_thread() is not threading.main_thread():
        yield
        return
    state = _State()
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    previous_hook = sys.unraisablehook
    pending: list[threading.Timer] = []

    def swallowed(unraisable: Any) -> None:
        # Raised inside a finalizer or a weakref callback (SQLAlchemy's), where Python
        # drops exceptions: the signal is sent again a moment later (once this hook has
        # returned), and the work stops just after.
        if isinstance(unraisable.exc_value, Interrupted) and state.signum is not None:
            state.armed = True
            again = threading.Timer(AGAIN_S, os.kill, (os.getpid(), unraisable.exc_value.signum))
            again.daemon = True
            again.start()
            pending.append(again)
            return
        previous_hook(unraisable)

    _active = state
    try:
        for sig in SIGNALS:
            signal.signal(sig, state.on_signal)
        sys.unraisablehook = swallowed
        yield
    finally:
        sys.unraisablehook = previous_hook
        for again in pending:  # not into the caller's handlers
            again.cancel()
            again.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _active = None
    if state.signum is not None and not state.consumed:
        # It came after the operation had finished: the caller's own handler gets it,
        # as it would have. (An operation that fails reports a signal in its error.)
        signal.raise_signal(state.signum)


def received() -> int | None:
    """The first signal of the current operation, if one arrived."""
    return _active.signum if _active is not None else None


def consume() -> int | None:
    """The first signal of the current operation, marked as reported by its outcome
    (so it is not delivered again when the handlers are restored)."""
    if _active is None or _active.signum is None:
        return None
    _active.consumed = True
    return _active.signum


def check() -> None:
    """Raise Interrupted if a signal arrived: a safe point of the work (between two
    revisions) where stopping is clean."""
    if _active is not None and _active.signum is not None and not _active.finishing:
        _active.consumed = True
        raise Interrupted(_active.signum)


@contextlib.contextmanager
def stoppable(cancel: Cancel | None = None) -> Iterator[None]:
    """A region the first signal may stop (see the module doc). Raises at once if a
    signal arrived before it. ``cancel`` is called from a watcher thread when a signal
    arrives, to stop what blocks the main thread (it must be thread-safe)."""
    state = _active
    if state is None or state.finishing:
        yield
        return
    was_armed = state.armed
    check()
    state.armed = True
    try:
        with _watching(state, cancel) if cancel is not None else contextlib.nullcontext():
            yield
    finally:
        state.armed = was_armed


@contextlib.contextmanager
def finishing(what: str) -> Iterator[None]:
    """A region no signal stops; a signal makes the process say that ``what`` is
    finishing."""
    state = _active
    if state is None:
        yield
        return
    state.finishing.append(what)
    try:
        yield
    finally:
        state.finishing.pop()


def forget() -> None:
    """In a forked child: this process handles no signals of the parent's operation."""
    global _active
    _active = None
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)


@contextlib.contextmanager
def _watching(state: _State, cancel: Cancel) -> Iterator[None]:
    """Call ``cancel`` from a thread as soon as a signal arrives, even while the main
    thread is blocked in C: Python's C-level handler writes the signal's number to the
    wakeup fd before the Python handler can run."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    stopping = threading.Event()

    def watch() -> None:
        while True:
            data = os.read(read_fd, 64)
            if stopping.is_set() or not data:
                return
            with contextlib.suppress(Exception):  # a failed cancel must not kill the watcher
                cancel()

    previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    thread = threading.Thread(target=watch, name="safeguard-interrupt", daemon=True)
    thread.start()
    try:
        if state.signum is not None:
            cancel()
        yield
    finally:
        signal.set_wakeup_fd(previous)
        stopping.set()
        os.write(write_fd, b"\0")
        thread.join()
        os.close(read_fd)
        os.close(write_fd)
