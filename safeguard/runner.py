"""Applying a run's revisions, here or in a child process a deadline can stop.

Without a deadline the revisions run in this process, in one pass of env.py. With
one (`--timeout`), they run in a forked child and this process only watches: a
migration that hangs (a lock it waits for forever, a query that never ends, an infinite
loop in Python) cannot be interrupted reliably from inside, but a child can always be
killed. The child journals its own steps exactly as the in-process loop does, and tells
the parent what it begins and finishes through a pipe, so the parent can report the
revision that was running and end the database sessions the child left behind.

The child dies with its parent (PR_SET_PDEATHSIG on Linux): a migration must never go
on unsupervised after the process that would restore it is gone.

SIGINT and SIGTERM stop the migration too (see interruption.py): in this process the
statement running is cancelled and Alembic stops where it stands, or at the next
revision if the migration's code swallowed the interruption; under a deadline the child
is stopped as a timeout stops it. Either way the outcome says `interrupted`, and the
run is undone as a failed one is.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import select
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from sqlalchemy import event
from sqlalchemy.pool import Pool

from . import interruption
from .backends import Backend
from .commit_gate import ChecksFailed
from .errors import DatabaseMismatchError, SafeguardError
from .footprint import StatementLog
from .interruption import Interrupted
from .journal import Operation
from .revisions import Step

log = logging.getLogger(__name__)

Reporter = Callable[[str], None]
#: Runs the whole run's revisions, calling its argument with each revision id as
#: Alembic reports it applied (Project.apply_run, bound to a target).
RunAll = Callable[[Callable[[str], None]], None]


@dataclass
class ApplyOutcome:
    """What happened to the run's revisions."""

    applied: list[str] = field(default_factory=list)
    failed_revision: str | None = None
    error: str | None = None
    timed_out: bool = False
    #: env.py turned to another database at the first connection of the run, before
    #: anything was applied (see identity.py): the run is refused, not restored.
    mismatch: str | None = None
    #: The signal (SIGINT, SIGTERM) that stopped the run, if one did.
    interrupted: int | None = None

    @property
    def ok(self) -> bool:
        return self.failed_revision is None


def describe(exc: BaseException) -> str:
    """`Type: first line of the message`, as the report shows a migration's error."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def apply_steps(steps: Sequence[Step], run: RunAll, op: Operation, report: Reporter, *,
                deadline: float | None = None, backend: Backend | None = None,
                statements: StatementLog | None = None) -> ApplyOutcome:
    """Apply ``steps`` (one pass of env.py, see Project.apply_run) and stop at the first
    failure. ``deadline`` is a ``time.monotonic()`` instant; past it the migration is
    stopped (see the module doc). ``statements``, which ``run`` fills, is filled here
    too when the run happens in a child."""
    if deadline is None:
        outcome = ApplyOutcome()

        def begun(step: Step) -> None:
            report(f"Applying {step.arrow}  {step.doc}")

        def failed(step: Step, exc: BaseException) -> None:
            outcome.failed_revision, outcome.error = step.revision, describe(exc)
            outcome.mismatch = _refusal(exc, outcome.applied)
            report(f"  {'STOPPED' if isinstance(exc, Interrupted) else 'FAILED'}: {outcome.error}")

        with _tracked_connections(backend, op) as connections:
            _run_journaled(steps, run, op, begun=begun,
                           done=lambda s: outcome.applied.append(s.revision), failed=failed,
                           cancel=connections.cancel)
            if not outcome.ok and interruption.received() is not None:
                outcome.interrupted = interruption.received()
                connections.end()
        return outcome
    return _apply_in_child(steps, run, op, report, deadline, backend, statements)


def _run_journaled(steps: Sequence[Step], run: RunAll, op: Operation, *,
                   begun: Callable[[Step], None], done: Callable[[Step], None],
                   failed: Callable[[Step, BaseException], None],
                   cancel: interruption.Cancel | None = None) -> bool:
    """One pass over the run's revisions, each journaled as a step of its own: 'started'
    before it runs (for the first, before env.py; for the next, as Alembic reports the
    previous one applied), then 'done' or 'failed'. True when every step is done.

    A signal stops the pass (interruption.stoppable; ``cancel`` stops the statement
    running), at the latest when the next revision would start."""
    pending = list(steps)

    def start_next() -> None:
        # Only the first start must reach the disk before anything changes: from there
        # on, recovery restores the snapshot whatever the later lines say, and the next
        # durable line (the checks starting, or the end) carries them all.
        if pending:
            op.record("apply", "started", revision=pending[0].revision,
                      durable=len(pending) == len(steps))
            begun(pending[0])

    def applied(revision: str) -> None:
        step = next((s for s in pending if s.revision == revision), None)
        if step is None:
            return  # not one of ours (a stamp of a merge point's extra head)
        pending.remove(step)
        op.record("apply", "done", revision=revision)
        done(step)
        interruption.check()  # the migration's code may have swallowed it
        start_next()

    start_next()
    try:
        with interruption.running(), interruption.stoppable(cancel):
            run(applied)
    except ChecksFailed:
        return False  # every revision ran; the checks failed and rolled the run back
    except Interrupted as exc:  # SIGINT/SIGTERM under safeguard's handlers: a failed run
        step = pending[0] if pending else steps[-1]
        op.record("apply", "failed", revision=step.revision, error=f"{type(exc).__name__}: {exc}")
        failed(step, exc)
        return False
    except KeyboardInterrupt:
        raise  # no handlers of ours (a thread of the caller's): the caller decides
    except BaseException as exc:  # noqa: BLE001 - sys.exit() in a revision or env.py too
        step = pending[0] if pending else steps[-1]
        op.record("apply", "failed", revision=step.revision, error=f"{type(exc).__name__}: {exc}")
        failed(step, exc)
        return False
    if pending:
        missing = ", ".join(s.revision for s in pending)
        error = RuntimeError(f"Alembic finished without applying {missing}")
        op.record("apply", "failed", revision=pending[0].revision, error=str(error))
        failed(pending[0], error)
        return False
    return True


def _refusal(exc: BaseException, applied: Sequence[str]) -> str | None:
    """The message of a database mismatch that happened before anything ran."""
    if isinstance(exc, DatabaseMismatchError) and exc.first_connection and not applied:
        return str(exc)
    return None


class _Connections:
    """The driver connections env.py opened during an in-process run, with their
    server sessions (read when they open: a closed connection no longer knows it),
    each journaled (see journal_session)."""

    def __init__(self, backend: Backend | None, op: Operation) -> None:
        self.backend = backend
        self.op = op
        self.opened: list[tuple[Any, int | None]] = []

    def add(self, dbapi_connection: Any) -> None:
        session = self.backend.session_of(dbapi_connection) if self.backend is not None else None
        self.opened.append((dbapi_connection, session))
        if session is not None:
            journal_session(self.op, session)

    def cancel(self) -> None:
        """From the watcher thread: cancel whatever statement each one is running."""
        if self.backend is not None:
            for connection, _session in list(self.opened):
                self.backend.cancel(connection)

    def end(self) -> None:
        """After an interrupted run: whatever the interruption left open goes, and its
        transaction with it (a PostgreSQL session holding the migration's locks would
        keep the restore from renaming the database)."""
        sessions = [session for _connection, session in self.opened if session is not None]
        for connection, session in self.opened:
            if session is None:
                with contextlib.suppress(Exception):
                    connection.close()
        if sessions and self.backend is not None:
            try:
                self.backend.end_sessions(sessions)
            except SafeguardError as exc:  # the restore then names the sessions in its way
                log.warning("%s", exc)


def journal_session(op: Operation, session: int) -> None:
    """Journal a server session the migration opened: if this process dies, the server
    may go on running its statement and holding its locks, and `recover` ends it
    (Backend.recover's ``sessions``) before it restores."""
    op.record("session", "opened", session=session, durable=True)


@contextlib.contextmanager
def _tracked_connections(backend: Backend | None, op: Operation) -> Iterator[_Connections]:
    """Note each connection a pool opens in the body (the listener is removed after)."""
    connections = _Connections(backend, op)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        connections.add(dbapi_connection)

    event.listen(Pool, "connect", on_connect)
    try:
        yield connections
    finally:
        event.remove(Pool, "connect", on_connect)


# -- the child -------------------------------------------------------------------------

def _apply_in_child(steps: Sequence[Step], run: RunAll, op: Operation, report: Reporter,
                    deadline: float, backend: Backend | None,
                    statements: StatementLog | None) -> ApplyOutcome:
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, measured by the tests' outcomes
        os.close(read_fd)
        _child(steps, run, op, write_fd, backend, statements)
    os.close(write_fd)
    log.debug("applying %d revision(s) in child process %d; %.1fs left before the timeout",
              len(steps), pid, deadline - time.monotonic())
    return _watch(pid, read_fd, steps, op, report, deadline, backend, statements)


def _child(steps: Sequence[Step], run: RunAll, op: Operation, fd: int,
           backend: Backend | None, statements: StatementLog | None) -> None:
    """Apply the steps and exit; never returns. os._exit skips the parent's finalizers,
    which would otherwise close connections (and locks) the parent still holds."""
    status = 1
    try:
        _die_with_parent()
        interruption.forget()  # SIGINT and SIGTERM end the child; the parent undoes the run

        def send(**message: Any) -> None:
            os.write(fd, (json.dumps(message) + "\n").encode())

        applied: list[str] = []

        def done(step: Step) -> None:
            applied.append(step.revision)
            send(done=step.revision)

        def failed(step: Step, exc: BaseException) -> None:
            send(failed=step.revision, error=describe(exc), mismatch=_refusal(exc, applied))

        with _fresh_connections(backend, send):
            if _run_journaled(steps, run, op, begun=lambda s: send(begin=s.revision),
                              done=done, failed=failed):
                status = 0
            if statements is not None:
                send(statements=statements.to_dict())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


@contextlib.contextmanager
def _fresh_connections(backend: Backend | None, send: Callable[..., None]) -> Iterator[None]:
    """In the child: never reuse a pooled connection the parent opened (its socket is
    the parent's too), and report each new database session so the parent can end it
    if it has to stop the child. This is SQLAlchemy's documented recipe for pools and
    os.fork(), applied to every pool."""
    me = os.getpid()

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        record.info["safeguard_pid"] = me
        session = backend.session_of(dbapi_connection) if backend is not None else None
        if session is not None:
            send(session=session)

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.get("safeguard_pid") != me:
            from sqlalchemy import exc

            record.dbapi_connection = proxy.dbapi_connection = None
            raise exc.DisconnectionError("connection opened before the fork")

    event.listen(Pool, "connect", on_connect)
    event.listen(Pool, "checkout", on_checkout)
    yield


# -- the parent ------------------------------------------------------------------------

def _watch(pid: int, fd: int, steps: Sequence[Step], op: Operation, report: Reporter,
           deadline: float, backend: Backend | None,
           statements: StatementLog | None) -> ApplyOutcome:
    outcome = ApplyOutcome()
    by_revision = {s.revision: s for s in steps}
    sessions: list[int] = []
    running: str | None = None
    buffered = b""
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while True:
            remaining = deadline - time.monotonic()
            try:
                with interruption.stoppable():
                    ready = select.select([pipe], [], [], max(remaining, 0))[0] if remaining > 0 else []
            except Interrupted as exc:
                _stop(pid, backend, sessions)
                outcome.interrupted = exc.signum
                outcome.failed_revision = running or _next(steps, outcome)
                outcome.error = f"stopped by {exc.name}"
                if running:
                    op.record("apply", "failed", revision=running, error=outcome.error)
                report(f"  STOPPED: {outcome.error}")
                return outcome
            if not ready:
                _stop(pid, backend, sessions)
                outcome.timed_out = True
                outcome.failed_revision = running or _next(steps, outcome)
                outcome.error = "did not finish before the run's --timeout; stopped"
                if running:
                    op.record("apply", "failed", revision=running, error=outcome.error)
                report(f"  STOPPED: {outcome.error}")
                return outcome
            chunk = pipe.read(65536)
            if not chunk:
                break
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if "begin" in message:
                    running = message["begin"]
                    step = by_revision[running]
                    report(f"Applying {step.arrow}  {step.doc}")
                elif "done" in message:
                    outcome.applied.append(message["done"])
                    running = None
                elif "failed" in message:
                    outcome.failed_revision, outcome.error = message["failed"], message["error"]
                    outcome.mismatch = message.get("mismatch")
                    running = None
                    report(f"  FAILED: {outcome.error}")
                elif "session" in message:
                    sessions.append(message["session"])
                    journal_session(op, message["session"])
                elif "statements" in message and statements is not None:
                    statements.merge(message["statements"])
    _, status = os.waitpid(pid, 0)
    if interruption.received() is not None and not (outcome.ok and os.WIFEXITED(status)
                                                    and os.WEXITSTATUS(status) == 0):
        # Ctrl-C reaches the whole process group: the child died of it first.
        outcome.interrupted = interruption.received()
    if outcome.failed_revision is None and (running or not os.WIFEXITED(status)
                                            or os.WEXITSTATUS(status) != 0):
        # Died without saying why: a signal from outside, or the OOM killer.
        outcome.failed_revision = running or "?"
        outcome.error = f"the migration process died ({_status_text(status)})"
        if running:
            op.record("apply", "failed", revision=running, error=outcome.error)
        report(f"  FAILED: {outcome.error}")
    return outcome


def _next(steps: Sequence[Step], outcome: ApplyOutcome) -> str | None:
    """The revision after the last one applied, if any is left."""
    return steps[len(outcome.applied)].revision if len(outcome.applied) < len(steps) else None


def _stop(pid: int, backend: Backend | None, sessions: Sequence[int]) -> None:
    """Kill the child, then end the database sessions it opened: a server goes on
    running a killed client's query (and holding its locks) until it notices."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    if backend is not None and sessions:
        backend.end_sessions(sessions)


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"
