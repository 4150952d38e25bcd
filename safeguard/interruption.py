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

The project's own code (env.py, the revisions) runs in a `running` region: there
os._exit() raises instead of ending the process with the run half done, and a
KeyboardInterrupt it raises itself (no signal came) is a failure of the revision like
any other exception, where it would otherwise escape the run unhandled. For as long as
an operation handles signals, and while the checks run env.py again in a thread of
their own, signal.signal() is `diverted`: env.py's own handlers for SIGINT and SIGTERM
(a web framework's habit) are noted, not installed, so a signal still stops the run
the way it must, and any call off the main thread, where Python refuses it, is a no-op
(under `alembic upgrade` env.py runs on the main thread, and the call worked). The
caller's handlers are what is restored at the end, not env.py's.

A process forked during an operation (a revision's `multiprocessing` pool, an
os.fork()) is a copy of safeguard mid-run, and nothing safeguard installed may act in
it: at the fork (os.register_at_fork) the child gets back the caller's signal
handlers, wakeup fd, unraisable hook and os._exit, so a pool's worker ends by SIGTERM
or os._exit as under plain Alembic; a child that comes back out of the `running`
region (sys.exit() in a forked child, an exception) ends there instead of journaling
a failure and restoring the snapshot over the live database; and a handler that
fires in any process but the one that owns the operation passes the signal on.

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

from .errors import OperationInterruptedError

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


class ExitInMigration(Exception):
    """A revision or env.py called os._exit() while migrating (see running)."""


class KeyboardInterruptInMigration(Exception):
    """A revision or env.py raised KeyboardInterrupt itself, no signal having come
    (see running): a failed revision, not a request to abandon the run."""


@dataclass
class _State:
    """What one operation's handlers have seen, and what they may do now, and what
    they replaced (a forked child gets it back)."""

    pid: int = field(default_factory=os.getpid)
    previous: dict[int, Any] = field(default_factory=dict)
    previous_hook: Callable[[Any], Any] = sys.unraisablehook
    #: The wakeup fd the watcher replaced, while one watches (see _watching).
    previous_wakeup: int | None = None
    #: The handlers env.py asked for while the operation held SIGINT and SIGTERM
    #: (see diverted): what signal.signal() returns to it, never installed.
    wanted: dict[int, Any] = field(default_factory=dict)
    signum: int | None = None
    #: True when the first signal has been raised as Interrupted (or reported): the
    #: operation's outcome names it, so it is not delivered again at the end.
    consumed: bool = False
    armed: bool = False
    finishing: list[str] = field(default_factory=list)

    def on_signal(self, signum: int, frame: object) -> None:
        if os.getpid() != self.pid:  # a child forked without the at-fork hook
            _pass_on(self, signum, frame)
            return
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
    state = _State(previous={sig: signal.getsignal(sig) for sig in SIGNALS},
                   previous_hook=sys.unraisablehook)
    previous, previous_hook = state.previous, state.previous_hook
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
            _SIGNAL(sig, state.on_signal)
        sys.unraisablehook = swallowed
        with diverted():
            yield
    finally:
        sys.unraisablehook = previous_hook
        for again in pending:  # not into the caller's handlers
            again.cancel()
            again.join()
        for number, handler in previous.items():
            _SIGNAL(number, handler)
        _active = None
    if state.signum is not None and not state.consumed:
        # It came after the operation had finished: the caller's own handler gets it,
        # as it would have. (An operation that fails reports a signal in its error.)
        signal.raise_signal(state.signum)


@contextlib.contextmanager
def handled(outcome: str, *, causes: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """`handling` for an operation that undoes its own work when stopped (a snapshot
    removes its partial copy, a rehearsal drops its copy): the Interrupted that stopped
    the body, or one of ``causes`` when a signal came (Ctrl-C reaches a tool's whole
    process group, so pg_dump may fail of it first), leaves it as
    OperationInterruptedError "interrupted by SIG...: ``outcome``"."""
    caught: tuple[type[BaseException], ...] = (Interrupted, *causes)
    with handling():
        try:
            yield
        except caught:
            signum = consume()
            if signum is None:
                raise
            raise OperationInterruptedError(f"interrupted by {signal_name(signum)}: {outcome}",
                                            signum=signum) from None


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


@contextlib.contextmanager
def running() -> Iterator[None]:
    """The project's code runs in the body: os._exit() raises ExitInMigration instead
    of ending the process.

    A revision (or env.py) that calls it would end safeguard with that status, exit 0
    included, the migration half done and nothing reported: a success nobody saw.
    Raised instead, it is a failed revision like any other, undone and reported.
    (sys.exit() raises SystemExit, caught with the rest.) os._exit is put back as it
    was after the body; the child process of a --timeout run uses it to end itself
    after this.

    A process forked in the body (see the module doc) gets the real os._exit back at
    the fork, and if it comes back out of the body (sys.exit() in the child, an
    exception, or the revision simply returning in it) it ends there, with the status
    plain Python would have given it: a copy of the run must not go on as the run."""
    global _exits
    owner, real = os.getpid(), os._exit

    def refuse(status: int) -> None:
        if os.getpid() != owner:
            real(status)
        raise ExitInMigration(f"os._exit({status}) was called while migrating")

    outer, _exits = _exits, (real, refuse)
    os._exit = refuse  # type: ignore[assignment]
    try:
        yield
    except BaseException as exc:
        if os.getpid() != owner:
            _end_child(exc)
        state = _active
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, Interrupted) \
                and state is not None:
            if state.signum is not None:  # ours, caught by the code and raised again bare
                state.consumed = True
                raise Interrupted(state.signum) from exc
            raise KeyboardInterruptInMigration(
                "KeyboardInterrupt was raised while migrating, and no signal had come") from exc
        raise
    else:
        if os.getpid() != owner:
            _end_child(None)
    finally:
        if os.getpid() == owner:
            os._exit, _exits = real, outer


def _end_child(exc: BaseException | None) -> None:
    """End a forked child that came back out of `running`, as the interpreter would
    end it at the top level (an exit status, or a traceback and 1), without running
    the parent's cleanup (finally blocks, atexit) a second time."""
    status = 0
    if isinstance(exc, SystemExit):
        code = exc.code
        if isinstance(code, int) or code is None:
            status = code or 0
        else:
            print(code, file=sys.stderr)
            status = 1
    elif exc is not None:
        import traceback

        traceback.print_exception(exc)
        status = 1
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    _REAL_EXIT(status)


@contextlib.contextmanager
def diverted() -> Iterator[None]:
    """signal.signal() is diverted in the body (see the module doc): for SIGINT and
    SIGTERM while an operation holds them, env.py's handler is noted and the one it
    replaced returned, as if it had been installed; off the main thread, a no-op that
    returns the handler in force. Nested and threaded uses share one diversion."""
    global _diversions, _SIGNAL
    with _diverting:
        _diversions += 1
        if _diversions == 1:
            _SIGNAL = signal.signal  # whatever it is now: put back as found
            signal.signal = _divert  # type: ignore[assignment]
    try:
        yield
    finally:
        with _diverting:
            _diversions -= 1
            if _diversions == 0:
                signal.signal = _SIGNAL


def _divert(signum: int, handler: Any) -> Any:
    """signal.signal while `diverted`."""
    state = _active
    if state is not None and signum in SIGNALS and os.getpid() == state.pid:
        replaced = state.wanted.get(signum, state.previous.get(signum))
        state.wanted[signum] = handler
        return replaced
    if threading.current_thread() is not threading.main_thread():
        return signal.getsignal(signum)
    return _SIGNAL(signum, handler)


def _pass_on(state: _State, signum: int, frame: object) -> None:
    """Deliver a signal as the handler safeguard replaced would have."""
    handler = state.previous.get(signum, signal.SIG_DFL)
    if callable(handler):
        handler(signum, frame)
        return
    if handler == signal.SIG_IGN:
        return
    _SIGNAL(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _after_fork_in_child() -> None:
    """Give a forked child back what safeguard replaced (see the module doc)."""
    global _active, _exits, _diversions, _diverting
    state, _active = _active, None
    # (a lock another thread of the parent held at the fork stays held in the child)
    signal.signal, _diversions, _diverting = _SIGNAL, 0, threading.Lock()
    if state is not None:
        with contextlib.suppress(ValueError, OSError):  # forked off a thread
            for sig, handler in state.previous.items():
                _SIGNAL(sig, handler)
            if state.previous_wakeup is not None:
                signal.set_wakeup_fd(state.previous_wakeup)
        sys.unraisablehook = state.previous_hook
    if _exits is not None:
        os._exit = _exits[0]  # type: ignore[assignment]
        _exits = None


#: os._exit as the interpreter started with it, and (real, replacement) while a
#: `running` region has replaced it.
_REAL_EXIT = os._exit
_exits: tuple[Callable[[int], Any], Callable[[int], Any]] | None = None
#: signal.signal as found (before a `diverted` region replaced it), and how many
#: such regions are open (under the lock).
_SIGNAL = signal.signal
_diversions = 0
_diverting = threading.Lock()
os.register_at_fork(after_in_child=_after_fork_in_child)


def forget() -> None:
    """In a forked child: this process handles no signals of the parent's operation."""
    global _active
    _active = None
    for sig in SIGNALS:
        _SIGNAL(sig, signal.SIG_DFL)
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

    previous = state.previous_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    thread = threading.Thread(target=watch, name="safeguard-interrupt", daemon=True)
    thread.start()
    try:
        if state.signum is not None:
            cancel()
        yield
    finally:
        signal.set_wakeup_fd(previous)
        state.previous_wakeup = None
        stopping.set()
        os.write(write_fd, b"\0")
        thread.join()
        os.close(read_fd)
        os.close(write_fd)
