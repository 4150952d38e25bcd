"""`safeguard rehearse`: the guarded upgrade, run first on a throwaway copy of the real
database, to learn whether (and how slowly) it would succeed on the real data.

    resolve -> plan -> prove env.py follows the URL -> [lock] copy [unlock]
            -> apply each revision on the copy (timed, rows counted, locks sampled)
            -> health checks on the copy -> drop the copy -> report and verdict

The copy is the live database's committed state (SQLite: a consistent copy of the
file into the store; PostgreSQL: a database ``D.sg-rehearse-TOKEN`` beside the live
one, restored from a fresh pg_dump), or a snapshot of it (``--from-snapshot``). The
live database's lock is held only while the copy is taken; the live database is only
ever read.

Nothing but the copy may be migrated, and only a check can prove it: env.py computes
its own URL. Before anything is copied, env.py is run once with the copy's URL (in
``DATABASE_URL`` and ``sqlalchemy.url``, as ``--url`` reaches it) and stopped before
it connects: if it was about to connect anywhere else, the rehearsal is refused.
During the rehearsal every connection made through SQLAlchemy (env.py's, the health
checks', the application's smoke check) is held to the copy (identity.held_to) and
counted, and the report says so.

Journal: a rehearsal is an operation (kind ``rehearse``) whose ``database`` is the
copy, the only database it changes, and whose ``source`` is the live one. An
unfinished rehearsal therefore never blocks a change to the live database; `safeguard
recover` drops its copy (`settle`). Each copy is locked (the store's file lock and,
on PostgreSQL, the advisory lock of its name) for as long as it exists, so recovery
never drops the copy of a rehearsal that is still running.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import sqlalchemy as sa
from alembic import context as alembic_context

from .. import footprint, health, interruption, tripwire
from ..backends import Backend, backend_for
from ..classify.result import Finding
from ..config import Settings
from ..durable import close_progress
from ..environ import scoped_environ
from ..errors import (
    DatabaseMismatchError,
    LockBusyError,
    RehearsalFailedError,
    SafeguardError,
    SnapshotNotAuthenticatedError,
)
from ..guard import Guard
from ..health import HealthReport
from ..host import Host
from ..identity import aimed, held_to
from ..journal import Operation, OperationRecord
from ..lock import database_lock
from ..plan import Plan, make_plan
from ..project import Project
from ..reporting import ProgressFactory, Reporter, silent, size_words
from ..restore import check_compatible
from ..revisions import DatabaseState, format_revs
from ..runner import apply_steps
from ..store import Snapshot
from ..workspace import Held, Workspace

log = logging.getLogger(__name__)

#: Where each rehearsal's copy (SQLite) or passing dump (PostgreSQL) lives, in the store.
REHEARSALS = "rehearsals"
KIND = "rehearse"
#: The process-wide settings a Project and a PostgreSQL backend set for env.py; a
#: rehearsal points them at its copy and puts them back.


# -- results ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RowChange:
    """A table whose row count a revision changed (None: the table did not exist)."""

    table: str
    before: int | None
    after: int | None

    def describe(self) -> str:
        if self.before is None:
            return f"{self.table} new ({self.after:,} rows)"
        if self.after is None:
            return f"{self.table} gone ({self.before:,} rows)"
        return f"{self.table} {self.after - self.before:+,} ({self.before:,} -> {self.after:,})"

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class RevisionResult:
    """One revision as it ran on the copy."""

    revision: str
    arrow: str
    doc: str
    verdict: str  # the classifier's
    status: str  # passed | failed | not run
    seconds: float | None = None
    error: str | None = None
    #: The classifier's findings on a revision that failed: what predicted it.
    predicted_by: tuple[Finding, ...] = ()
    row_changes: tuple[RowChange, ...] = ()
    #: Tables held ACCESS EXCLUSIVE from this revision on (PostgreSQL).
    exclusive_locks: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision, "arrow": self.arrow, "doc": self.doc,
            "verdict": self.verdict, "status": self.status,
            "seconds": None if self.seconds is None else round(self.seconds, 4),
            "error": self.error,
            "predicted_by": [f.to_dict() for f in self.predicted_by],
            "row_changes": [c.to_dict() for c in self.row_changes],
            "exclusive_locks": [lock.to_dict() for lock in self.exclusive_locks],
        }


@dataclass(frozen=True)
class CopyFacts:
    """The copy a rehearsal migrated."""

    database: str  # its identity
    source: str  # "the live database" or "snapshot ID"
    size: int
    taken_at: str  # ISO 8601, UTC: the moment of the data
    seconds: float  # how long the copy took (the live database's lock was held this long)

    def to_dict(self) -> dict[str, Any]:
        return {"database": self.database, "source": self.source, "size": self.size,
                "taken_at": self.taken_at, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Rehearsal:
    """What a rehearsal found: per revision, the checks, and the verdict."""

    target: str
    outcome: str  # passed | failed | up-to-date
    database: str  # the live database, as printed
    heads: tuple[str, ...]  # where the live database is (and stays)
    verdict: str
    copy: CopyFacts | None = None
    plan: Plan | None = None
    revisions: tuple[RevisionResult, ...] = ()
    health: HealthReport | None = None
    seconds: float = 0.0  # the migration's time on the copy
    #: How many connections the rehearsal made, every one to the copy.
    connections: int = 0
    lock_sampling: str | None = None  # why lock figures are missing, if they are
    operation: str | None = None
    #: The live database changed while the rehearsal ran (the verdict says how).
    live_changed: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"

    @property
    def failed_revision(self) -> str | None:
        return next((r.revision for r in self.revisions if r.status == "failed"), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "ok": self.ok,
            "target": self.target,
            "database": self.database,
            "heads": list(self.heads),
            "verdict": self.verdict,
            "copy": self.copy.to_dict() if self.copy else None,
            "plan": self.plan.to_dict() if self.plan else None,
            "revisions": [r.to_dict() for r in self.revisions],
            "health": self.health.to_dict() if self.health else None,
            "failed_revision": self.failed_revision,
            "seconds": round(self.seconds, 4),
            "connections_to_copy": self.connections,
            "lock_sampling": self.lock_sampling,
            "operation": self.operation,
            "live_changed": self.live_changed,
        }


# -- the operation ---------------------------------------------------------------------

def rehearse(settings: Settings, target: str = "head", *, from_snapshot: str | None = None,
             report: Reporter = silent, progress: ProgressFactory | None = None) -> Rehearsal:
    """Rehearse `upgrade TARGET` on a copy of the database (see the module doc); the
    result when it would succeed, RehearsalFailedError (carrying it) when not.
    SIGINT and SIGTERM stop it (interruption.py): the copy is dropped, the operation
    closed, OperationInterruptedError."""
    with interruption.handled("the rehearsal stopped and its copy was dropped; the live "
                              "database was not changed", causes=(SafeguardError,)):
        return _rehearse(settings, target, from_snapshot, report, progress)


def _rehearse(settings: Settings, target: str, from_snapshot: str | None, report: Reporter,
              progress: ProgressFactory | None) -> Rehearsal:
    ws = Workspace(settings)
    state = ws.database()
    live = ws.backend(state)
    snapshot = _source_snapshot(ws, live, from_snapshot)
    start = DatabaseState(state.url, snapshot.revisions) if snapshot else state
    plan = make_plan(ws.project, start, target=target, direction="upgrade", policy="never",
                     database_size=0)
    report(f"Rehearsing upgrade {target} of {state.display_url} "
           f"({format_revs(start.heads)}) on a copy of "
           + (f"snapshot {snapshot.id}" if snapshot else "the live database"))
    if not plan.steps:
        verdict = f"upgrade {target} has nothing to do: the database is at {format_revs(start.heads)}"
        report(f"Verdict: {verdict}")
        return Rehearsal(target, "up-to-date", state.display_url, state.heads, verdict, plan=plan)

    token = secrets.token_hex(4)
    workdir = ws.store.root / REHEARSALS / token
    copy_url = live.rehearsal_url(workdir, token)
    copy_settings = replace(settings, url=copy_url.render_as_string(hide_password=False),
                            policy="never", timeout=None)
    copy = backend_for(copy_url, settings)
    with _pointed_at(copy_settings.url, settings.host):
        copy_project = Project(copy_settings)
        _refuse_unfollowed_url(copy_project, copy.identity(), live.identity())

    # The copy's own hold (its locks, and the journal's operation, whose database is
    # the copy) lasts as long as the copy; the live database's, only as the copy is taken.
    with ws.operation(KIND, copy, f"rehearse {target}", check_unfinished=False) as held:
        op, facts = _copy(ws, held, live, workdir, token, snapshot, target, report, progress)
        live_files = live.local_files()
        try:
            untouched = tripwire.fingerprint(live_files)
            with _pointed_at(copy_settings.url, settings.host), tripwire.fenced(
                    live_files, f"a rehearsal may only touch its copy, not the live database "
                                f"{live.identity()}"):
                result = _run(copy_project, copy, copy_settings, target, op, facts, state,
                              report)
            interruption.check()  # a signal stopped the migration on the copy
            changed = tripwire.changes(live_files, untouched, tripwire.fingerprint(live_files))
            if changed:
                result = _live_changed(result, live, changed)
        except BaseException as exc:
            _drop(op, live, workdir, token, report)
            op.finish("aborted", error=f"{type(exc).__name__}: {exc}")
            raise
        _drop(op, live, workdir, token, report)
        result = replace(result, operation=op.id)
        op.finish(result.outcome, verdict=result.verdict, failed_revision=result.failed_revision,
                  seconds=round(result.seconds, 4))
    _report(result, report)
    if result.live_changed:
        raise RehearsalFailedError(result.verdict, report=result)
    if not result.ok:
        raise RehearsalFailedError(f"{result.verdict}; the live database was not changed "
                                   f"(still at {format_revs(state.heads)})", report=result)
    return result


def _live_changed(result: Rehearsal, live: Backend, changed: Sequence[str]) -> Rehearsal:
    """The rehearsal failed: the live database changed while it ran (see tripwire.py),
    by the rehearsal's own code beyond the fence's reach, or by another process."""
    others = live.users()
    by = (f"; other processes have it open, and may have written it: {', '.join(others)}"
          if others else "; no other process has it open")
    verdict = (f"the live database {live.identity()} changed while the rehearsal ran "
               f"({'; '.join(changed)}){by}. A rehearsal must leave it alone: if a revision "
               f"reached it (a child process, a driver of its own), the real upgrade would "
               f"too; if the application wrote it, rehearse again while it is quiet. The "
               f"rehearsal's own verdict was: {result.verdict}")
    return replace(result, outcome="failed", verdict=verdict, live_changed=True)


@dataclass(frozen=True)
class RehearsedUpgrade:
    """`upgrade --rehearse`: the rehearsal, then the real guarded run."""

    rehearsal: Rehearsal
    result: Any  # the guard's GuardResult

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "rehearsal": self.rehearsal.to_dict()}


def rehearse_then_migrate(settings: Settings, target: str = "head", *, create: bool = False,
                          report: Reporter = silent,
                          progress: ProgressFactory | None = None) -> RehearsedUpgrade:
    """Rehearse `upgrade TARGET`; only if it would succeed, run the real guarded upgrade.
    A failed rehearsal raises RehearsalFailedError and the database is not touched."""
    rehearsal = rehearse(settings, target, report=report, progress=progress)
    report("The rehearsal passed: running the real upgrade.")
    result = Guard(settings, report=report, progress_factory=progress).migrate(target, create=create)
    return RehearsedUpgrade(rehearsal, result)


def _source_snapshot(ws: Workspace, live: Backend, snapshot_id: str | None) -> Snapshot | None:
    """The snapshot to rehearse on, checked against this database and re-hashed."""
    if snapshot_id is None:
        return None
    snapshot = ws.store.get(snapshot_id)
    if snapshot.unauthenticated:  # rehearsing restores it into a copy on the same server
        raise SnapshotNotAuthenticatedError(
            f"snapshot {snapshot.id} was taken in from the remote unauthenticated: it is not "
            "rehearsed on (restore it with --allow-unauthenticated if you trust it)")
    check_compatible(snapshot, live, name=ws.name_of(live.engine, live.identity()))
    ws.store.verify_checksum(snapshot)
    return snapshot


def _refuse_unfollowed_url(copy_project: Project, copy: str, live: str) -> None:
    """Run env.py with the copy's URL and stop it before it connects: refuse unless it
    was about to connect to the copy."""
    targets: list[str | None] = []
    with aimed(targets):
        copy_project.database(create=True)
    if targets and targets[0] == copy:
        return
    where = targets[0] if targets else "no database"
    raise DatabaseMismatchError(
        f"env.py connects to {where} whatever the URL it is given (a rehearsal passes "
        f"{copy} in --url/DATABASE_URL and sqlalchemy.url): safeguard cannot prove that a "
        f"rehearsal would not touch {'the live database ' + live if where == live else where}, "
        "so it refuses to rehearse; make env.py use DATABASE_URL or sqlalchemy.url when set. "
        "Nothing was copied or run")


@contextlib.contextmanager
def _claimed(ws: Workspace, copy: Backend, *, timeout: float, purpose: str) -> Iterator[None]:
    """Take the copy's locks, as the rehearsal's Workspace.operation holds them while
    its copy exists, but without waiting (``timeout`` 0): for recovery, a held lock
    means a rehearsal still running, not one to wait for."""
    ws.store.ensure_writable()
    with database_lock(ws.store.root, copy.identity(), timeout=timeout, purpose=purpose), \
            copy.session_lock(timeout):
        yield


def _copy(ws: Workspace, held: Held, live: Backend, workdir: Path, token: str,
          snapshot: Snapshot | None, target: str, report: Reporter,
          progress: ProgressFactory | None) -> tuple[Operation, CopyFacts]:
    """Under the live database's lock, journal the rehearsal and take its copy."""
    copy = held.backend
    with ws.operation(KIND, live, f"rehearse {target}: copying"):
        state = ws.project.database()  # re-read under the lock
        if snapshot is None:
            live.preflight()
            ws.store.ensure_space(live.size())
        op = held.begin(source=live.identity(), url=state.display_url, target=target,
                        heads=list(state.heads), token=token, workdir=str(workdir),
                        snapshot=snapshot.id if snapshot else None)
        source = f"snapshot {snapshot.id}" if snapshot else "the live database"
        report(f"Copying {source} to {copy.identity()} ...")
        bar = progress("Copy", snapshot.size if snapshot else live.size()) if progress else None
        started = time.monotonic()
        taken_at = snapshot.created_at if snapshot else _now()
        try:
            with op.step("copy", source=source) as outcome, interruption.stoppable():
                size = live.make_rehearsal_copy(
                    workdir, token, progress=bar,
                    snapshot=(ws.store.path_of(snapshot.id), snapshot) if snapshot else None)
                outcome["size"] = size
        except BaseException as exc:
            _drop_quietly(live, workdir, token)
            op.finish("aborted", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            close_progress(bar)
    facts = CopyFacts(copy.identity(), source, size, taken_at, time.monotonic() - started)
    report(f"  copy of {size_words(size)} taken in {facts.seconds:.1f} s; the live database is "
           "unlocked again")
    return op, facts


def _run(project: Project, copy: Backend, settings: Settings, target: str, op: Operation,
         facts: CopyFacts, live: DatabaseState, report: Reporter) -> Rehearsal:
    """The guarded upgrade on the copy: every revision timed and its rows counted, then
    every health check, with every connection held to the copy."""
    def elsewhere(actual: str) -> str:
        return (f"the rehearsal connected to {actual}, but it may only touch its copy "
                f"{facts.database}: refused before any statement ran on {actual}")

    with held_to(facts.database, elsewhere, every_thread=True) as held:
        state = project.database()
        plan = make_plan(project, state, target=target, direction="upgrade", policy="never",
                         database_size=facts.size)
        before = copy.row_counts()
        schema_before, statements = copy.schema(), footprint.StatementLog()
        recorder = _Recorder([p.step.revision for p in plan.steps], _counts_of(state.url),
                             statements)
        with copy.lock_watch() as watch:
            recorder.watch = watch

            def run(applied: Callable[[str], None]) -> None:
                recorder.begin()
                project.apply_run(target, "upgrade", recorder.wrap(applied), statements)

            outcome = apply_steps([p.step for p in plan.steps], run, op, report)
            recorder.end()
        if outcome.mismatch is not None:
            raise DatabaseMismatchError(f"{outcome.mismatch}; nothing was applied to the copy")
        checks = None
        if outcome.ok:
            ctx = health.CheckContext(backend=copy, project=project, settings=settings,
                                      database=state, expected_heads=plan.expected_heads,
                                      before_counts=before,
                                      classifications=[p.classification for p in plan.steps],
                                      footprint=footprint.after(statements, schema_before, copy))
            with op.step("check") as done, interruption.stoppable():
                checks = health.run_checks(ctx)
                done["ok"] = checks.ok
    revisions = recorder.results(plan, outcome.failed_revision, outcome.error)
    seconds = sum(r.seconds or 0.0 for r in revisions)
    passed = outcome.ok and checks is not None and checks.ok
    verdict = _verdict(target, plan, revisions, checks, seconds, facts)
    return Rehearsal(target, "passed" if passed else "failed", live.display_url, live.heads,
                     verdict, facts, plan, revisions, checks, seconds, held.connections,
                     recorder.lock_note())


def _drop(op: Operation, live: Backend, workdir: Path, token: str, report: Reporter) -> None:
    with op.step("drop"):
        live.drop_rehearsal_copy(workdir, token)
    report("Copy dropped.")


def _drop_quietly(live: Backend, workdir: Path, token: str) -> None:
    try:
        live.drop_rehearsal_copy(workdir, token)
    except SafeguardError as exc:  # the copy's own error is the news; recover retries
        log.warning("could not drop the rehearsal copy %s: %s", token, exc)


# -- what each revision did ------------------------------------------------------------

@dataclass
class _Recorder:
    """Times each revision, counts rows after it on the migration's own connection
    (inside its transaction: nothing else can see the rows yet), and tells the lock
    watch which revision runs."""

    pending: list[str]
    counts: dict[str, int] | None
    statements: footprint.StatementLog
    watch: Any = None
    seconds: dict[str, float] = field(default_factory=dict)
    changes: dict[str, tuple[RowChange, ...]] = field(default_factory=dict)
    _clock: float = 0.0
    _ended: float = 0.0

    def begin(self) -> None:
        self._clock = time.monotonic()
        self._mark()

    def wrap(self, applied: Callable[[str], None]) -> Callable[[str], None]:
        def on_applied(revision: str) -> None:
            if revision in self.pending:
                self.seconds[revision] = time.monotonic() - self._clock
                self.pending.remove(revision)
                self._mark()
                with self.statements.paused():
                    after = _counts_on_migration_connection()
                if after is not None and self.counts is not None:
                    self.changes[revision] = _changes(self.counts, after)
                self.counts = after
            applied(revision)
            self._clock = time.monotonic()

        return on_applied

    def end(self) -> None:
        self._ended = time.monotonic()

    def _mark(self) -> None:
        if self.watch is not None:
            self.watch.mark(self.pending[0] if self.pending else None)

    def lock_note(self) -> str | None:
        return getattr(self.watch, "error", None)

    def results(self, plan: Plan, failed: str | None, error: str | None) -> tuple[RevisionResult, ...]:
        locks = list(self.watch.held()) if self.watch is not None else []
        out = []
        for p in plan.steps:
            rev = p.step.revision
            common: dict[str, Any] = dict(
                revision=rev, arrow=p.step.arrow, doc=p.step.doc, verdict=p.classification.verdict,
                exclusive_locks=tuple(lock for lock in locks if lock.revision == rev))
            if rev in self.seconds:
                out.append(RevisionResult(status="passed", seconds=self.seconds[rev],
                                          row_changes=self.changes.get(rev, ()), **common))
            elif rev == failed:
                # Only a may-fail finding predicts a failure; a DS/BC/TC one predicts a loss.
                predicted = tuple(f for f in p.classification.findings if f.kind == "may-fail")
                out.append(RevisionResult(status="failed", seconds=self._ended - self._clock,
                                          error=error, predicted_by=predicted, **common))
            else:
                out.append(RevisionResult(status="not run", **common))
        return tuple(out)


def _counts_of(url: sa.URL) -> dict[str, int] | None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return _row_counts(conn)
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def _counts_on_migration_connection() -> dict[str, int] | None:
    """Rows per table as the running migration sees them; None if they cannot be
    counted. On PostgreSQL inside a savepoint, so that a count that fails cannot abort
    the migration's transaction."""
    try:
        conn = alembic_context.get_context().connection
    except Exception:  # noqa: BLE001 - no migration context: nothing to count on
        return None
    if conn is None:
        return None
    try:
        if conn.dialect.name == "postgresql" and conn.in_transaction():
            with conn.begin_nested():
                return _row_counts(conn)
        return _row_counts(conn)
    except sa.exc.SQLAlchemyError as exc:
        log.info("could not count rows after a revision: %s", exc)
        return None


def _row_counts(conn: sa.Connection) -> dict[str, int]:
    """Rows per table of the default schema (``alembic_version`` left out)."""
    counts = {}
    for table in sa.inspect(conn).get_table_names():
        if table == "alembic_version":
            continue
        quoted = conn.dialect.identifier_preparer.quote(table)
        counts[table] = conn.execute(sa.text(f"SELECT count(*) FROM {quoted}")).scalar_one()
    return counts


def _changes(before: Mapping[str, int], after: Mapping[str, int]) -> tuple[RowChange, ...]:
    return tuple(RowChange(t, before.get(t), after.get(t))
                 for t in sorted(set(before) | set(after)) if before.get(t) != after.get(t))


# -- the report ------------------------------------------------------------------------

def _verdict(target: str, plan: Plan, revisions: Sequence[RevisionResult],
             checks: HealthReport | None, seconds: float, facts: CopyFacts) -> str:
    failed = next((r for r in revisions if r.status == "failed"), None)
    if failed is not None:
        predicted = ""
        if failed.predicted_by:
            first = failed.predicted_by[0]
            predicted = f" (predicted by {first.code}: {first.message})"
        return f"upgrade {target} would fail at revision {failed.revision}: {failed.error}{predicted}"
    if checks is not None and not checks.ok:
        return f"upgrade {target} would fail its health checks: {checks.summary()}"
    return (f"upgrade {target} would succeed ({len(plan.steps)} revision"
            f"{'s' if len(plan.steps) != 1 else ''}, {_duration(seconds)} on a copy of "
            f"{size_words(facts.size)} taken at {_clock_time(facts.taken_at)})")


def _report(result: Rehearsal, report: Reporter) -> None:
    """The rehearsal's findings, one line each, through the reporter."""
    report("Revisions on the copy:")
    for r in result.revisions:
        took = f"{_duration(r.seconds)}" if r.seconds is not None else "-"
        report(f"  {r.status:<8} {r.arrow:<30} {took:>8}  {r.doc}")
        if r.error:
            report(f"           error: {r.error}")
        for finding in r.predicted_by:
            report(f"           predicted by {finding.code}: {finding.message}")
        if r.row_changes:
            report("           rows: " + "; ".join(c.describe() for c in r.row_changes))
        for lock in r.exclusive_locks:
            until = ", until the run committed" if lock.until_commit else ""
            report(f"           ACCESS EXCLUSIVE on {lock.table} for {_duration(lock.seconds)}{until}")
    if result.lock_sampling:
        report(f"  (ACCESS EXCLUSIVE locks could not be sampled: {result.lock_sampling})")
    if result.health is not None:
        report("Health checks on the copy:")
        for c in result.health.results:
            report(f"  {c.status:<8} {c.name}: {c.detail}")
    if result.copy is not None:
        report(f"Identity check: all {result.connections} connections of the rehearsal went to "
               f"the copy {result.copy.database}; the live database was not connected to.")
    report(f"Verdict: {result.verdict}")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _clock_time(iso: str) -> str:
    moment = datetime.fromisoformat(iso).astimezone(timezone.utc)
    if moment.date() == datetime.now(timezone.utc).date():
        return f"{moment:%H:%M} UTC"
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f} s"
    return f"{seconds:.0f} s"


@contextlib.contextmanager
def _pointed_at(url: str | None, host: Host | None) -> Iterator[None]:
    """``DATABASE_URL`` names ``url`` in the body (for env.py and the application's
    smoke check, as --url does for a guarded run), and what it was afterwards: the live
    project's env.py must never read the copy's URL, nor the copy's the live one. A
    host whose env.py takes the application's engine (Flask-Migrate) has that engine
    pointed at ``url`` as well (Host.aim)."""
    aimed = host.aim(url) if url and host is not None and host.aim is not None \
        else contextlib.nullcontext()
    with scoped_environ({"DATABASE_URL": url} if url else {}), aimed:
        yield


# -- recovery ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Settled:
    """What recovery did about one interrupted rehearsal (or one stray copy); read as
    recovery's own results are (recovery.Recovered)."""

    operation: str
    action: str  # dropped | running
    detail: str
    heads: tuple[str, ...]  # the live database's, untouched
    kind: str = KIND

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "kind": self.kind, "action": self.action,
                "detail": self.detail, "heads": list(self.heads)}


def settle(ws: Workspace, *, report: Reporter = silent) -> list[Settled]:
    """Drop the copies that interrupted rehearsals of this workspace's database left
    behind (and any other copy of it that no rehearsal holds), closing their operations
    in the journal. A copy whose rehearsal still runs (its lock is held) is left alone."""
    state = ws.database(check_known=False, empty_ok=True)
    live = ws.backend(state)
    unfinished = {op.begun.get("token"): op for op in ws.journal.operations()
                  if op.kind == KIND and not op.finished and op.begun.get("source") == live.identity()}
    root = ws.store.root / REHEARSALS
    found = set(unfinished) | set(live.rehearsal_tokens())
    if root.is_dir():
        found |= {entry.name for entry in root.iterdir()}
    done = []
    for token in sorted(t for t in found if isinstance(t, str)):
        settled = _settle_one(ws, live, root / token, token, unfinished.get(token), report)
        if settled is not None:
            done.append(replace(settled, heads=state.heads))
    return done


def _settle_one(ws: Workspace, live: Backend, workdir: Path, token: str,
                record: OperationRecord | None, report: Reporter) -> Settled | None:
    try:
        copy_url = live.rehearsal_url(workdir, token)
    except ValueError:  # not a token of ours
        return None
    copy = backend_for(copy_url)
    name = record.id if record else f"copy {token}"
    try:
        with _claimed(ws, copy, timeout=0.0, purpose="recover"):
            if record is not None and isinstance(record.begun.get("pid"), int):
                # A pg_dump or a migration of the crashed run may still be running.
                live.recover([record.begun["pid"]])
            existed = live.drop_rehearsal_copy(workdir, token)
            detail = (f"dropped the copy {copy.identity()} of an interrupted rehearsal; the live "
                      "database was never changed" if existed else
                      "the rehearsal's copy was already gone; the live database was never changed")
            if record is not None:
                Operation(ws.journal, record.id, record.kind).finish("recovered: dropped",
                                                                     detail=detail)
    except LockBusyError:
        report(f"Rehearsal {name} is still running; its copy is left alone")
        return Settled(name, "running", "the rehearsal is still running; its copy is left alone", ())
    report(f"Rehearsal {name}: {detail}")
    return Settled(name, "dropped", detail, ())
