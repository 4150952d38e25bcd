"""The guarded upgrade (and downgrade): plan, snapshot, apply, check, restore on failure.

    resolve -> lock -> plan -> refuse early -> snapshot -> apply each revision
            -> health checks -> done
                         \\-> on any failure: restore, re-stamp, verify, report

Every state change is announced in the journal before it happens (see journal.py), so
`safeguard recover` can finish whatever a crash interrupted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, NoReturn

from . import digest, footprint, health
from .backends import Backend
from .config import Settings
from .durable import Progress, close_progress
from .errors import (
    DatabaseMismatchError,
    HealthCheckFailedError,
    JournalError,
    MigrationFailedError,
    MigrationTimeoutError,
    RestoreError,
    SafeguardError,
)
from .footprint import StatementLog
from .health import HealthReport
from .journal import Operation
from .plan import Plan, make_plan
from .project import DatabaseState, format_revs
from .restore import restore_snapshot
from .runner import apply_steps
from .store import Snapshot
from .workspace import Workspace

log = logging.getLogger(__name__)

Reporter = Callable[[str], None]
"""Receives one human-readable line per event; the CLI prints them, tests collect them."""


def _silent(_: str) -> None:
    pass


@dataclass(frozen=True)
class GuardResult:
    """Everything a guarded run did, for the report and for --json."""

    plan: Plan
    outcome: str  # up-to-date | dry-run | migrated | restored | failed | refused
    applied: tuple[str, ...] = ()
    snapshot: Snapshot | None = None
    health: HealthReport | None = None
    failed_revision: str | None = None
    error: str | None = None
    restored: bool = False
    heads: tuple[str, ...] = ()
    operation: str | None = None
    timed_out: bool = False

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
        }


@dataclass
class Guard:
    """A guarded migration of one project's database."""

    settings: Settings
    report: Reporter = _silent
    progress_factory: Callable[[str, int], Any] | None = None
    ws: Workspace = field(init=False)

    def __post_init__(self) -> None:
        self.ws = Workspace(self.settings)

    # -- public ------------------------------------------------------------------

    def plan(self, target: str, direction: str = "upgrade", *, create: bool = False) -> Plan:
        """The plan for this database as it is now; touches nothing."""
        state = self.ws.database(create=create)
        return self._plan(state, target, direction, self.ws.backend(state))

    def migrate(self, target: str, direction: str = "upgrade", *, create: bool = False) -> GuardResult:
        """Run the guarded migration; raise a SafeguardError (carrying the result)
        when it fails, after restoring whatever can be restored."""
        state = self.ws.database(create=create)
        backend = self.ws.backend(state)
        with self.ws.exclusive(backend, f"{direction} {target}"):
            # Re-read under the lock: another runner may have migrated while we waited.
            state = self.ws.project.database(create=create)
            plan = self._plan(state, target, direction, backend)
            self.announce(plan)
            if not plan.steps:
                self.report(f"Nothing to do: the database is at {format_revs(state.heads)}.")
                return GuardResult(plan, "up-to-date", heads=state.heads)
            return self._run(plan, backend)

    def _plan(self, state: DatabaseState, target: str, direction: str, backend: Backend) -> Plan:
        return make_plan(self.ws.project, state, target=target, direction=direction,
                         policy=self.settings.policy, stoppable=self.settings.timeout is not None,
                         database_size=_size(backend))

    # -- the run -----------------------------------------------------------------

    def _run(self, plan: Plan, backend: Backend) -> GuardResult:
        timeout = self.settings.timeout
        deadline = time.monotonic() + timeout if timeout else None
        if plan.snapshot:
            backend.preflight()  # refused here, nothing is journaled or written
        op = self.ws.journal.begin(
            plan.direction,
            database=backend.identity(),
            url=plan.database.display_url,
            target=plan.target,
            heads=list(plan.database.heads),
            steps=[p.step.revision for p in plan.steps],
            snapshot=plan.snapshot,
        )
        snapshot = self._snapshot(plan, backend, op) if plan.snapshot else None
        # The data guard compares against these; a snapshot has just counted them.
        before_counts = dict(snapshot.row_counts) if snapshot else backend.row_counts()
        schema_before, statements = backend.schema(), StatementLog()
        if _remaining(deadline) == 0:
            return self._fail(plan, backend, op, snapshot, [], None, failed_revision=None,
                              error="the snapshot took the whole --timeout; nothing was applied",
                              timed_out=True)
        def run(applied: Callable[[str], None]) -> None:
            self.ws.project.apply_run(plan.target, plan.direction, applied, statements)

        outcome = apply_steps([p.step for p in plan.steps], run, op, self.report,
                              deadline=deadline, backend=backend, statements=statements)
        applied = outcome.applied
        if outcome.mismatch is not None:
            self._refuse(plan, op, snapshot, outcome.mismatch)
        if not outcome.ok:
            return self._fail(plan, backend, op, snapshot, applied, None,
                              failed_revision=outcome.failed_revision, error=outcome.error or "",
                              timed_out=outcome.timed_out)
        if _remaining(deadline) == 0:
            return self._fail(plan, backend, op, snapshot, applied, None, failed_revision=None,
                              error="the migrations took the whole --timeout; no time "
                                    "was left for the health checks", timed_out=True)
        ctx = health.CheckContext(backend=backend, project=self.ws.project, settings=self.settings,
                                  database=plan.database, expected_heads=plan.expected_heads,
                                  before_counts=before_counts,
                                  classifications=[p.classification for p in plan.steps],
                                  footprint=footprint.after(statements, schema_before, backend),
                                  deadline=deadline)
        with op.step("check") as outcome:
            report = health.run_checks(ctx)
            outcome["ok"] = report.ok
        for result in report.results:
            log.info("check %s: %s in %.0f ms", result.name, result.status, result.duration * 1000)
        for line in report.lines():
            self.report(line)
        if not report.ok:
            return self._fail(plan, backend, op, snapshot, applied, report,
                              failed_revision=None, error=report.summary())
        heads = plan.expected_heads
        op.finish("migrated", heads=list(heads), snapshot=snapshot.id if snapshot else None)
        self.report(f"Done: the database is at {format_revs(heads)}.")
        return GuardResult(plan, "migrated", tuple(applied), snapshot, report,
                           heads=heads, operation=op.id)

    def _snapshot(self, plan: Plan, backend: Backend, op: Operation) -> Snapshot:
        self.report(f"Snapshot before the run: {plan.snapshot_reason}")
        snapshot = self.ws.snapshot(
            op, backend,
            reason=f"before {plan.direction} to {plan.target}: {plan.snapshot_reason}",
            revisions=plan.database.heads,
            progress=self._progress("Snapshot", backend.size()),
        )
        self.report(f"  snapshot {snapshot.id}: {snapshot.size:,} bytes, {digest.short(snapshot.sha256)}, "
                    f"{sum(snapshot.row_counts.values()):,} rows in {len(snapshot.row_counts)} tables")
        return snapshot

    def _fail(self, plan: Plan, backend: Backend, op: Operation, snapshot: Snapshot | None,
              applied: list[str], report: HealthReport | None, *,
              failed_revision: str | None, error: str, timed_out: bool = False) -> GuardResult:
        """Restore the snapshot (if there is one) and raise the error that says it all."""
        if timed_out:
            error_cls: type[SafeguardError] = MigrationTimeoutError
            limit = f"the --timeout of {self.settings.timeout:g}s"
            what = (f"revision {failed_revision} did not finish within {limit} and was stopped"
                    if failed_revision else f"{limit} passed: {error}")
        elif failed_revision:
            error_cls = MigrationFailedError
            what = f"revision {failed_revision} failed: {error}"
        else:
            error_cls = HealthCheckFailedError
            what = f"health checks failed after migrating: {error}"
        if snapshot is None:
            heads = self._heads_now()
            op.finish("failed", error=what, heads=list(heads))
            result = GuardResult(plan, "failed", tuple(applied), None, report, failed_revision,
                                 error, False, heads, op.id, timed_out)
            reason = plan.snapshot_reason or "no snapshot was planned"
            raise error_cls(f"{what}; no snapshot to restore ({reason}); the database is at "
                            f"{format_revs(heads)}", report=result)
        self.report(f"Restoring snapshot {snapshot.id} ...")
        progress = self._progress("Restore", snapshot.size)
        try:
            with op.step("restore", snapshot=snapshot.id):
                restored = restore_snapshot(self.ws.store, backend, self.ws.project, snapshot,
                                            progress=progress)
        except JournalError:
            raise  # the restore never started; recover settles it from the journal
        except SafeguardError as exc:
            # Not finished: the journal keeps the operation open, so every change is
            # refused until `safeguard recover` has restored the snapshot.
            result = GuardResult(plan, "failed", tuple(applied), snapshot, report,
                                 failed_revision, error, False, (), op.id, timed_out)
            raise RestoreError(
                f"{what}; then restoring snapshot {snapshot.id} FAILED: {exc}. The database "
                f"needs attention: once the cause is fixed, `safeguard recover` restores the "
                f"snapshot (it is at {self.ws.store.path_of(snapshot.id)})",
                report=result,
            ) from exc
        finally:
            close_progress(progress)
        op.finish("restored", snapshot=snapshot.id, heads=list(restored.heads), error=what)
        result = GuardResult(plan, "restored", tuple(applied), snapshot, report, failed_revision,
                             error, True, restored.heads, op.id, timed_out)
        raise error_cls(
            f"{what}; restored snapshot {snapshot.id}; the database is back at "
            f"{format_revs(restored.heads)}",
            report=result,
        )

    def _refuse(self, plan: Plan, op: Operation, snapshot: Snapshot | None, mismatch: str) -> NoReturn:
        """env.py turned to another database before this run changed anything: there is
        nothing to restore, and a restore would run env.py yet again."""
        heads = plan.database.heads
        op.finish("refused", error=mismatch, heads=list(heads))
        kept = f"; snapshot {snapshot.id} is kept" if snapshot else ""
        result = GuardResult(plan, "refused", (), snapshot, None, None, mismatch, False, heads, op.id)
        raise DatabaseMismatchError(f"{mismatch}; nothing was applied, the database is still at "
                                    f"{format_revs(heads)}{kept}", report=result)

    # -- helpers -----------------------------------------------------------------

    def announce(self, plan: Plan) -> None:
        """Report the plan, one line per revision, through the reporter."""
        self.report(f"Database: {plan.database.display_url} at {format_revs(plan.database.heads)}")
        if not plan.steps:
            return
        self.report(f"Plan: {plan.direction} to {plan.target}, {len(plan.steps)} revision(s):")
        for p in plan.steps:
            codes = ", ".join(dict.fromkeys(f.code for f in p.classification.findings))
            self.report(f"  {p.step.arrow:<30} {p.classification.verdict:<12} {p.step.doc}"
                        + (f"  [{codes}]" if codes else ""))
        if plan.snapshot:
            self.report(f"Snapshot: yes ({plan.snapshot_reason}), about {plan.database_size:,} bytes")
        else:
            self.report(f"Snapshot: no ({plan.snapshot_reason})")

    def _heads_now(self) -> tuple[str, ...]:
        try:
            return self.ws.project.database().heads
        except SafeguardError:
            return ()

    def _progress(self, label: str, total: int) -> Progress:
        if self.progress_factory is None:
            return None
        return self.progress_factory(label, total)


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


