"""The guarded upgrade (and downgrade): plan, snapshot, apply, check, restore on failure.

    resolve -> lock -> plan -> refuse early -> snapshot -> apply each revision
            -> health checks -> done
                         \\-> on any failure: restore, re-stamp, verify, report

A run whose undo is its transaction (undo.py) takes no snapshot: its health checks run
inside that transaction before the commit (commit_gate.py), and a failure anywhere is
rolled back by the database.

Every state change is announced in the journal before it happens (see journal.py), so
`safeguard recover` can finish whatever a crash interrupted. SIGINT and SIGTERM are
failures of the run (interruption.py): undone as a failed revision is, then reported.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, NoReturn

from . import digest, footprint, health, interruption
from .backends import Backend
from .commit_gate import CommitGate
from .config import Settings
from .durable import Progress
from .errors import (
    DatabaseMismatchError,
    HealthCheckFailedError,
    JournalError,
    MigrationFailedError,
    MigrationTimeoutError,
    OperationInterruptedError,
    RestoreError,
    SafeguardError,
    SnapshotError,
)
from .footprint import StatementLog
from .health import HealthReport
from .interruption import Interrupted, signal_name
from .journal import Operation
from .plan import Plan, make_plan
from .remote import RemoteCopy
from .reporting import ProgressFactory, Reporter, silent, size_words
from .restore import restore_snapshot
from .revisions import DatabaseState, Direction, format_revs
from .runner import apply_steps
from .store import Snapshot
from .undo import TRANSACTION
from .workspace import Held, Workspace

log = logging.getLogger(__name__)


Outcome = Literal["up-to-date", "dry-run", "migrated", "restored", "rolled-back", "failed",
                  "refused", "aborted"]
"""How a guarded run ended."""


@dataclass(frozen=True)
class GuardResult:
    """Everything a guarded run did, for the report and for --json."""

    plan: Plan
    outcome: Outcome
    applied: tuple[str, ...] = ()
    snapshot: Snapshot | None = None
    health: HealthReport | None = None
    failed_revision: str | None = None
    error: str | None = None
    restored: bool = False
    heads: tuple[str, ...] = ()
    operation: str | None = None
    timed_out: bool = False
    #: The signal that stopped the run (SIGINT, SIGTERM), if one did.
    signal: str | None = None
    #: The snapshot's upload to the remote store, when one is set (remote.py).
    remote: RemoteCopy | None = None

    @property
    def interrupted(self) -> bool:
        return self.signal is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "plan": self.plan.to_dict(),
            "applied": list(self.applied),
            "snapshot": self.snapshot.to_dict() if self.snapshot else None,
            "health": self.health.to_dict() if self.health else None,
            "failed_revision": self.failed_revision,
            "error": self.error,
            "restored": self.restored,
            "heads": list(self.heads),
            "operation": self.operation,
            "timed_out": self.timed_out,
            "interrupted": self.interrupted,
            "signal": self.signal,
            "remote": self.remote.to_dict() if self.remote else None,
            "warnings": [self.remote.warning] if self.remote and self.remote.warning else [],
        }


@dataclass
class Guard:
    """A guarded migration of one project's database."""

    settings: Settings
    report: Reporter = silent
    progress_factory: ProgressFactory | None = None
    ws: Workspace = field(init=False)

    def __post_init__(self) -> None:
        self.ws = Workspace(self.settings)

    # -- public ------------------------------------------------------------------

    def plan(self, target: str, direction: Direction = "upgrade", *, create: bool = False) -> Plan:
        """The plan for this database as it is now; touches nothing."""
        state = self.ws.database(create=create)
        return self._plan(state, target, direction, self.ws.backend(state))

    def migrate(self, target: str, direction: Direction = "upgrade", *,
                create: bool = False) -> GuardResult:
        """Run the guarded migration; raise a SafeguardError (carrying the result)
        when it fails, after restoring whatever can be restored."""
        with interruption.handling():
            try:
                return self._uploaded(self._migrate(target, direction, create))
            except Interrupted as exc:  # before the journal's first line: nothing changed
                interruption.consume()
                raise OperationInterruptedError(
                    f"interrupted by {exc.name} before anything was changed", signum=exc.signum
                ) from None
            except SafeguardError as exc:
                if isinstance(exc.report, GuardResult):
                    exc.report = self._uploaded(exc.report)
                raise

    def _uploaded(self, result: GuardResult) -> GuardResult:
        """The run's report waits for the snapshot's upload (running beside the
        migration since the snapshot was proven) and says where the snapshot is."""
        for copy in self.ws.uploaded(self.report):
            if result.snapshot is not None and copy.snapshot == result.snapshot.id:
                result = replace(result, remote=copy)
        return result

    def _migrate(self, target: str, direction: Direction, create: bool) -> GuardResult:
        with ExitStack() as stack:
            with interruption.stoppable():  # nothing is written before the journal's begin
                state = self.ws.database(create=create)
                backend = self.ws.backend(state)
                held = stack.enter_context(
                    self.ws.operation(direction, backend, f"{direction} {target}"))
                # Re-read under the lock: another runner may have migrated while we waited.
                state = self.ws.project.database(create=create)
                plan = self._plan(state, target, direction, backend)
            self.announce(plan)
            if not plan.steps:
                self.report(f"Nothing to do: the database is at {format_revs(state.heads)}.")
                return GuardResult(plan=plan, outcome="up-to-date", heads=state.heads)
            return self._run(plan, held)

    def _plan(self, state: DatabaseState, target: str, direction: Direction,
              backend: Backend) -> Plan:
        return make_plan(self.ws.project, state, target=target, direction=direction,
                         policy=self.settings.policy, stoppable=self.settings.timeout is not None,
                         database_size=_size(backend),
                         own_connection_checks=health.own_connection_checks(self.settings))

    # -- the run -----------------------------------------------------------------

    def _run(self, plan: Plan, held: Held) -> GuardResult:
        backend = held.backend
        timeout = self.settings.timeout
        deadline = time.monotonic() + timeout if timeout else None
        if plan.snapshot:
            backend.preflight()  # refused here, nothing is journaled or written
            self.ws.uploads.preflight()  # with remote_required, the remote too
        op = held.begin(
            url=plan.database.display_url,
            target=plan.target,
            heads=list(plan.database.heads),
            steps=[p.step.revision for p in plan.steps],
            snapshot=plan.snapshot,
            undo=plan.undo.by,
        )
        try:
            snapshot = self._snapshot(plan, held) if plan.snapshot else None
        except (Interrupted, SnapshotError) as exc:
            # Ctrl-C reaches the whole process group: a tool may fail of it first.
            signum = interruption.consume()
            if signum is None:
                raise
            raise OperationInterruptedError(
                f"interrupted by {signal_name(signum)} during the snapshot: the partial snapshot "
                f"was discarded and nothing was changed; the database is still at "
                f"{format_revs(plan.database.heads)}", signum=signum,
                report=GuardResult(plan=plan, outcome="aborted", operation=op.id,
                                   heads=plan.database.heads,
                                   signal=signal_name(signum))) from exc
        # The data guard compares against these; a snapshot has just counted them.
        before_counts = dict(snapshot.row_counts) if snapshot else backend.row_counts()
        schema_before, statements = backend.schema(), StatementLog()
        if _remaining(deadline) == 0:
            return self._fail(plan, backend, op, snapshot, [], None, failed_revision=None,
                              error="the snapshot took the whole --timeout; nothing was applied",
                              timed_out=True, changed=False)

        def context_for(connection: Any = None) -> health.CheckContext:
            if connection is None:
                touched = footprint.after(statements, schema_before, backend)
            else:  # before the commit: the schema as the run's own transaction sees it
                savepoint = connection.begin_nested()  # rolled back: a failed read changes nothing
                try:
                    touched = footprint.after(statements, schema_before, backend,
                                              connection.connection.driver_connection)
                finally:
                    savepoint.rollback()
            return health.CheckContext(backend=backend, project=self.ws.project,
                                       settings=self.settings, database=plan.database,
                                       expected_heads=plan.expected_heads,
                                       before_counts=before_counts, connection=connection,
                                       classifications=[p.classification for p in plan.steps],
                                       footprint=touched, deadline=deadline)

        gate = CommitGate(context_for, op) if plan.undo.by == TRANSACTION else None

        def run(applied: Callable[[str], None]) -> None:
            self.ws.project.apply_run(plan.target, plan.direction, applied, statements,
                                      before_commit=gate)

        outcome = apply_steps([p.step for p in plan.steps], run, op, self.report,
                              deadline=deadline, backend=backend, statements=statements)
        applied = outcome.applied
        if outcome.mismatch is not None:
            self._refuse(plan, op, snapshot, outcome.mismatch)
        if gate is not None and gate.report is not None and not gate.report.ok:
            self._report_checks(gate.report)
            return self._fail(plan, backend, op, None, applied, gate.report,
                              failed_revision=None, error=gate.report.summary())
        if not outcome.ok:
            return self._fail(plan, backend, op, snapshot, applied, None,
                              failed_revision=outcome.failed_revision, error=outcome.error or "",
                              timed_out=outcome.timed_out, interrupted=outcome.interrupted)
        if _remaining(deadline) == 0:
            return self._fail(plan, backend, op, snapshot, applied, None, failed_revision=None,
                              error="the migrations took the whole --timeout; no time "
                                    "was left for the health checks", timed_out=True)

        if gate is not None and gate.report is not None:
            report = gate.report  # passed inside the transaction, which has committed
        else:
            try:
                with op.step("check") as checked, interruption.stoppable():
                    report = health.run_checks(context_for())
                    checked["ok"] = report.ok
            except Interrupted as exc:
                return self._fail(plan, backend, op, snapshot, applied, None, failed_revision=None,
                                  error="the health checks were stopped", interrupted=exc.signum)
        self._report_checks(report)
        if not report.ok:
            return self._fail(plan, backend, op, snapshot, applied, report,
                              failed_revision=None, error=report.summary())
        if interruption.received() is not None:  # between two stoppable parts
            return self._fail(plan, backend, op, snapshot, applied, report, failed_revision=None,
                              error="the run had not finished", interrupted=interruption.received())
        heads = plan.expected_heads
        op.finish("migrated", heads=list(heads), snapshot=snapshot.id if snapshot else None)
        self.report(f"Done: the database is at {format_revs(heads)}.")
        return GuardResult(plan=plan, outcome="migrated", applied=tuple(applied), snapshot=snapshot,
                           health=report, heads=heads, operation=op.id)

    def _report_checks(self, report: HealthReport) -> None:
        for result in report.results:
            log.info("check %s: %s in %.0f ms", result.name, result.status, result.duration * 1000)
        for line in report.lines():
            self.report(line)

    def _snapshot(self, plan: Plan, held: Held) -> Snapshot:
        self.report("Taking the snapshot ...")  # the plan said why
        snapshot = held.snapshot(
            reason=f"before {plan.direction} to {plan.target}: {plan.snapshot_reason}",  # manifest.PRE_MIGRATION
            revisions=plan.database.heads,
            progress=self._progress("Snapshot", held.backend.size()),
        )
        self.report(f"  snapshot {snapshot.id}: {size_words(snapshot.size)}, {digest.short(snapshot.sha256)}, "
                    f"{sum(snapshot.row_counts.values()):,} rows in {len(snapshot.row_counts)} tables")
        return snapshot

    def _fail(self, plan: Plan, backend: Backend, op: Operation, snapshot: Snapshot | None,
              applied: list[str], report: HealthReport | None, *,
              failed_revision: str | None, error: str, timed_out: bool = False,
              changed: bool = True, interrupted: int | None = None) -> GuardResult:
        """Restore the snapshot (if there is one, and ``changed``: something was
        applied) and raise the error that says it all."""
        signal = signal_name(interrupted) if interrupted else None
        if interrupted:
            error_cls: type[SafeguardError] = OperationInterruptedError
            what = (f"interrupted by {signal} while revision {failed_revision} ran"
                    if failed_revision else f"interrupted by {signal}: {error}")
            error = f"stopped by {signal}"
        elif timed_out:
            error_cls = MigrationTimeoutError
            limit = f"the --timeout of {self.settings.timeout:g}s"
            what = (f"revision {failed_revision} did not finish within {limit} and was stopped"
                    if failed_revision else f"{limit} passed: {error}")
        elif failed_revision:
            error_cls = MigrationFailedError
            what = f"revision {failed_revision} failed: {error}"
        else:
            error_cls = HealthCheckFailedError
            what = f"health checks failed after migrating: {error}"
        with interruption.finishing("the restore"):
            return self._undo(plan, backend, op, snapshot, applied, report, error_cls, what,
                              failed_revision=failed_revision, error=error, timed_out=timed_out,
                              signal=signal, changed=changed)

    def _undo(self, plan: Plan, backend: Backend, op: Operation, snapshot: Snapshot | None,
              applied: list[str], report: HealthReport | None, error_cls: type[SafeguardError],
              what: str, *, failed_revision: str | None, error: str, timed_out: bool,
              signal: str | None, changed: bool) -> NoReturn:
        """_fail's second half, which no signal stops."""
        def raise_(message: str, result: GuardResult) -> NoReturn:
            signum = interruption.consume()  # the one that stopped the run, or a later one
            if error_cls is OperationInterruptedError and signum is not None:
                raise OperationInterruptedError(message, signum=signum, report=result)
            if signum is not None:
                message += f" ({signal_name(signum)} arrived meanwhile; the restore was finished first)"
            raise error_cls(message, report=result)

        if snapshot is None and plan.undo.by == TRANSACTION:
            self._rolled_back(plan, op, applied, report, failed_revision, error, what, raise_,
                              signal)
        if snapshot is None or not changed:
            heads = self._heads_now()
            op.finish("failed", error=what, heads=list(heads), **_signal_fact(signal))
            result = GuardResult(plan=plan, outcome="failed", applied=tuple(applied),
                                 snapshot=snapshot, health=report,
                                 failed_revision=failed_revision, error=error, heads=heads,
                                 operation=op.id, timed_out=timed_out, signal=signal)
            if not changed:  # a restore would only risk the writes made since the snapshot
                raise_(f"{what}; the database was not changed, it is at "
                       f"{format_revs(heads)}", result)
            reason = plan.snapshot_reason or "no snapshot was planned"
            raise_(f"{what}; no snapshot to restore ({reason}); the database is at "
                   f"{format_revs(heads)}", result)
        try:
            restored = restore_snapshot(self.ws.store, backend, self.ws.project, snapshot, op=op,
                                        report=self.report,
                                        progress=self._progress("Restore", snapshot.size))
        except JournalError:
            raise  # the restore never started; recover settles it from the journal
        except SafeguardError as exc:
            # Not finished: the journal keeps the operation open, so every change is
            # refused until `safeguard recover` has restored the snapshot.
            result = GuardResult(plan=plan, outcome="failed", applied=tuple(applied),
                                 snapshot=snapshot, health=report, failed_revision=failed_revision,
                                 error=error, operation=op.id, timed_out=timed_out, signal=signal)
            interruption.consume()
            raise RestoreError(
                f"{what}; then restoring snapshot {snapshot.id} FAILED: {exc}. The database "
                f"needs attention: once the cause is fixed, `safeguard recover` restores the "
                f"snapshot (it is at {self.ws.store.path_of(snapshot.id)})",
                report=result,
            ) from exc
        op.finish("restored", snapshot=snapshot.id, heads=list(restored.heads), error=what,
                  **_signal_fact(signal))
        result = GuardResult(plan=plan, outcome="restored", applied=tuple(applied), snapshot=snapshot,
                             health=report, failed_revision=failed_revision, error=error,
                             restored=True, heads=restored.heads, operation=op.id,
                             timed_out=timed_out, signal=signal)
        raise_(f"{what}; restored snapshot {snapshot.id}; the database is back at "
               f"{format_revs(restored.heads)}", result)

    def _rolled_back(self, plan: Plan, op: Operation, applied: list[str],
                     report: HealthReport | None, failed_revision: str | None, error: str,
                     what: str, raise_: Callable[[str, GuardResult], NoReturn],
                     signal: str | None) -> NoReturn:
        """The run's transaction was rolled back (by Alembic, as the failure left env.py):
        confirm the database is back at the revisions it started from."""
        heads = self._heads_now()
        if set(heads) != set(plan.database.heads):
            op.finish("failed", error=what, heads=list(heads), **_signal_fact(signal))
            result = GuardResult(plan=plan, outcome="failed", applied=tuple(applied),
                                 health=report, failed_revision=failed_revision, error=error,
                                 heads=heads, operation=op.id, signal=signal)
            raise RestoreError(f"{what}; the run's transaction should have undone it, but the "
                               f"database is at {format_revs(heads)}, not "
                               f"{format_revs(plan.database.heads)}: it needs attention",
                               report=result)
        op.finish("rolled-back", error=what, heads=list(heads), **_signal_fact(signal))
        result = GuardResult(plan=plan, outcome="rolled-back", applied=tuple(applied),
                             health=report, failed_revision=failed_revision, error=error,
                             restored=True, heads=heads, operation=op.id, signal=signal)
        raise_(f"{what}; the run's transaction was rolled back; the database is back at "
               f"{format_revs(heads)}", result)

    def _refuse(self, plan: Plan, op: Operation, snapshot: Snapshot | None, mismatch: str) -> NoReturn:
        """env.py turned to another database before this run changed anything: there is
        nothing to restore, and a restore would run env.py yet again."""
        heads = plan.database.heads
        op.finish("refused", error=mismatch, heads=list(heads))
        kept = f"; snapshot {snapshot.id} is kept" if snapshot else ""
        result = GuardResult(plan=plan, outcome="refused", snapshot=snapshot, error=mismatch,
                             heads=heads, operation=op.id)
        raise DatabaseMismatchError(f"{mismatch}; nothing was applied, the database is still at "
                                    f"{format_revs(heads)}{kept}", report=result)

    # -- helpers -----------------------------------------------------------------

    def announce(self, plan: Plan) -> None:
        """Report the plan, one line per revision, through the reporter."""
        for line in plan.lines():
            self.report(line)

    def _heads_now(self) -> tuple[str, ...]:
        try:
            return self.ws.project.database().heads
        except SafeguardError:
            return ()

    def _progress(self, label: str, total: int) -> Progress:
        if self.progress_factory is None:
            return None
        return self.progress_factory(label, total)


def _signal_fact(signal: str | None) -> dict[str, str]:
    """The journal's word that a signal stopped the operation."""
    return {"interrupted": signal} if signal else {}


def _remaining(deadline: float | None) -> float | None:
    """Seconds left before ``deadline`` (0 once past it); None without one."""
    if deadline is None:
        return None
    return max(deadline - time.monotonic(), 0.0)


def _size(backend: Backend) -> int:
    try:
        return backend.size()
    except (OSError, SafeguardError):
        return 0


