"""The user's verbs, one function per command (as Alembic's `command.py`).

Each takes `Settings` and returns a result object; the CLI only parses and prints.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from . import health, recovery
from .config import Settings
from .durable import Progress, close_progress
from .errors import HealthCheckFailedError, SafeguardError, VerificationError
from .guard import Guard, GuardResult, Reporter
from .journal import OperationRecord
from .plan import Plan
from .project import DatabaseState, Project, format_revs
from .restore import ManualRestore, check_compatible, restore_snapshot
from .retention import Decision, RetentionPolicy, decide
from .store import Snapshot, SnapshotStore
from .workspace import Workspace

ProgressFactory = Callable[[str, int], Progress]


def _ignore(_: str) -> None:
    pass


def _no_progress(_label: str, _total: int) -> Progress:
    return None


# -- migrations ----------------------------------------------------------------------

def plan(settings: Settings, target: str = "head", direction: str = "upgrade", *,
         create: bool = False, report: Reporter = _ignore) -> Plan:
    """The pending revisions, their verdicts and the snapshot decision; touches nothing."""
    guard = Guard(settings, report=report)
    result = guard.plan(target, direction, create=create)
    guard.announce(result)
    return result


def migrate(settings: Settings, target: str = "head", direction: str = "upgrade", *,
            create: bool = False, report: Reporter = _ignore,
            progress: ProgressFactory | None = None) -> GuardResult:
    """The guarded upgrade or downgrade (see guard.py)."""
    return Guard(settings, report=report, progress_factory=progress).migrate(
        target, direction, create=create)


def offline_sql(settings: Settings, target: str, direction: str, out: io.TextIOBase) -> None:
    """Alembic's --sql mode, passed through: prints SQL, touches no database."""
    Project(settings).offline_sql(target, direction, out)


# -- snapshots -----------------------------------------------------------------------

def list_snapshots(settings: Settings) -> list[Snapshot]:
    """Every snapshot in the store, oldest first."""
    return SnapshotStore(settings.store_dir).list()


def show_snapshot(settings: Settings, snapshot_id: str) -> Snapshot:
    """One snapshot's manifest ('latest' names the newest)."""
    return SnapshotStore(settings.store_dir).get(snapshot_id)


def create_snapshot(settings: Settings, *, label: str | None = None, pin: bool = False,
                    reason: str = "manual", progress: ProgressFactory = _no_progress,
                    report: Reporter = _ignore) -> Snapshot:
    """Take a snapshot now, under the database's lock (a backup never runs during a
    migration, and a migration waits for a running backup)."""
    ws = Workspace(settings)
    state = ws.database()
    backend = ws.backend(state)
    with ws.exclusive(backend, f"snapshot {label or reason}"):
        state = ws.database()  # re-read under the lock: a migration may have run while we waited
        op = ws.journal.begin("snapshot", database=backend.identity(), label=label,
                              reason=reason, heads=list(state.heads))
        snapshot = ws.snapshot(op, backend, reason=reason, revisions=state.heads, label=label,
                               pinned=pin, progress=progress("Snapshot", backend.size()))
        op.finish("created", snapshot=snapshot.id, size=snapshot.size)
    report(f"Snapshot {snapshot.id}: {snapshot.size:,} bytes at {snapshot.revision or 'base'}")
    return snapshot


@dataclass(frozen=True)
class VerifyResult:
    """`snapshot verify`: the checksum, then a test restore into a scratch database."""

    snapshot: Snapshot
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot.id, "ok": self.ok, "problems": list(self.problems)}


def verify_snapshot(settings: Settings, snapshot_id: str, *,
                    progress: ProgressFactory = _no_progress) -> VerifyResult:
    """Re-hash the snapshot, restore it into a scratch database and check it there;
    VerificationError (carrying the result) when anything is wrong."""
    ws = Workspace(settings)
    snapshot = ws.store.get(snapshot_id)
    state = ws.database(check_known=False)
    backend = ws.backend(state)
    if snapshot.engine != backend.engine:
        raise VerificationError(f"snapshot {snapshot.id} is a {snapshot.engine} snapshot; "
                                f"this project's database is {backend.engine}")
    bar = progress("Verify", snapshot.size)
    try:
        ws.store.verify_checksum(snapshot, progress=bar)
        problems = backend.verify_payload(ws.store.path_of(snapshot.id), snapshot.to_dict())
    finally:
        close_progress(bar)
    result = VerifyResult(snapshot, tuple(problems))
    ws.journal.append({"op": "-", "kind": "verify", "event": "note", "snapshot": snapshot.id,
                       "ok": result.ok, "problems": list(problems)})
    if problems:
        raise VerificationError(f"snapshot {snapshot.id} does not verify: {problems[0]}",
                                report=result)
    return result


def prune(settings: Settings, *, now: datetime | None = None, dry_run: bool = False,
          report: Reporter = _ignore) -> list[Decision]:
    """Apply the retention policy: delete what no rule keeps (nothing with dry_run)."""
    ws = Workspace(settings)
    now = now or datetime.now(timezone.utc)
    policy = RetentionPolicy(settings.keep_last, settings.keep_daily, settings.keep_weekly,
                             settings.keep_monthly, settings.max_age_days)
    if dry_run:
        return decide(ws.store.list(), now, policy, protected=_protected(ws))
    backend = ws.backend(ws.database(check_known=False))
    # Under the lock: a snapshot being taken, or a migration's, is never pruned mid-way.
    with ws.exclusive(backend, "prune", check_unfinished=False):
        decisions = decide(ws.store.list(), now, policy, protected=_protected(ws))
        doomed = [d for d in decisions if not d.keep]
        if doomed:
            op = ws.journal.begin("prune", snapshots=[d.snapshot.id for d in doomed])
            for d in doomed:
                with op.step("delete", snapshot=d.snapshot.id):
                    backend.discard(ws.store.path_of(d.snapshot.id), d.snapshot.to_dict())
                    ws.store.delete(d.snapshot.id)
                report(f"Pruned {d.snapshot.id} ({', '.join(d.reasons)})")
            op.finish("pruned", count=len(doomed))
    return decisions


def _protected(ws: Workspace) -> set[str]:
    """The snapshot taken before the most recent migration of each database."""
    latest: dict[str, str] = {}
    for op in ws.journal.operations():
        entry = op.last_done("snapshot")
        if op.kind in ("upgrade", "downgrade") and entry and entry.get("snapshot"):
            latest[op.begun.get("database", "")] = entry["snapshot"]
    return set(latest.values())


# -- restore and recovery -------------------------------------------------------------

def restore(settings: Settings, snapshot_id: str, *, dry_run: bool = False,
            report: Reporter = _ignore,
            progress: ProgressFactory = _no_progress) -> ManualRestore:
    """Put a snapshot back: refuse a damaged or foreign one, take a safety snapshot of
    the current state, restore, re-stamp, run the health checks, journal it all."""
    ws = Workspace(settings)
    snapshot = ws.store.get(snapshot_id)
    # An empty file is what a restore is for (a database truncated to nothing).
    state = ws.database(check_known=False, empty_ok=True)
    backend = ws.backend(state)
    check_compatible(snapshot, backend)
    ws.store.verify_checksum(snapshot)
    warnings = tuple(
        f"snapshot {snapshot.id} is at revision {rev}, which the current scripts do not "
        f"know: the database will be at a revision `safeguard upgrade` cannot start from"
        for rev in ws.project.unknown_revisions(snapshot.revisions))
    for warning in warnings:
        report(f"WARNING: {warning}")
    if dry_run:
        report(f"Would take a safety snapshot of the current state ({format_revs(state.heads)}), then "
               f"restore {snapshot.id} ({format_revs(snapshot.revisions)}, {snapshot.created_at}).")
        return ManualRestore(snapshot, state.heads, True, warnings)

    with ws.exclusive(backend, f"restore {snapshot.id}"):
        backend.preflight()
        op = ws.journal.begin("restore", database=backend.identity(), snapshot=snapshot.id,
                              heads=list(state.heads))
        safety = ws.snapshot(op, backend, step="safety-snapshot",
                             reason=f"safety snapshot before restoring {snapshot.id}",
                             revisions=state.heads,
                             progress=progress("Safety snapshot", backend.size()))
        report(f"Safety snapshot {safety.id} of the current state taken.")
        bar = progress("Restore", snapshot.size)
        try:
            with op.step("restore", snapshot=snapshot.id):
                # Hashed above, before the safety snapshot: not read a second time.
                result = restore_snapshot(ws.store, backend, ws.project, snapshot, progress=bar,
                                          checksum_verified=True)
        finally:
            close_progress(bar)
        ctx = health.CheckContext(backend=backend, project=ws.project, settings=settings,
                                  database=state, expected_heads=snapshot.revisions,
                                  proven=backend.restore_proof)
        with op.step("check") as outcome:
            report_ = health.run_checks(ctx)
            outcome["ok"] = report_.ok
        op.finish("restored", snapshot=snapshot.id, safety_snapshot=safety.id,
                  heads=list(result.heads), checks_ok=report_.ok)
    for line in report_.lines():
        report(line)
    done = ManualRestore(snapshot, state.heads, False, warnings, safety, result, report_)
    if not report_.ok:
        raise HealthCheckFailedError(
            f"restored {snapshot.id}, but the health checks after it failed: "
            f"{report_.summary()}; the restored database is left in place, the previous "
            f"state is in safety snapshot {safety.id}", report=done)
    report(f"Restored {snapshot.id}: the database is at {format_revs(result.heads)} "
           f"(the previous state is in safety snapshot {safety.id}).")
    return done


def check(settings: Settings) -> health.HealthReport:
    """Run every health check against the database as it is now."""
    ws = Workspace(settings)
    state = ws.database(check_known=False)
    ctx = health.CheckContext(backend=ws.backend(state), project=ws.project, settings=settings,
                              database=state)
    return health.run_checks(ctx)


def recover(settings: Settings, *, abandon: bool = False,
            report: Reporter = _ignore) -> list[recovery.Recovered]:
    """Finish whatever an interrupted operation left (see recovery.py); with
    ``abandon``, close it and leave the database as it is."""
    if abandon:
        return recovery.abandon(Workspace(settings), report=report)
    return recovery.recover(Workspace(settings), report=report)


def journal(settings: Settings, *, limit: int | None = None) -> list[OperationRecord]:
    """The journal's operations, oldest first (the last ``limit`` of them)."""
    ops = Workspace(settings).journal.operations()
    return ops[-limit:] if limit else ops


def effective_config(settings: Settings, *, probe: bool = True) -> dict[str, Any]:
    """Every setting with its value and where it came from (passwords masked), and,
    unless ``probe`` is false, the database the project's env.py connects to."""
    rows = {key: {"value": value, "source": source} for key, value, source in settings.effective()}
    database: dict[str, Any] | None = None
    if probe:
        try:
            state = Project(settings).database(check_known=False)
            database = {"url": state.display_url, "dialect": state.dialect,
                        "heads": list(state.heads), "source": "env.py"}
        except SafeguardError as exc:
            database = {"error": exc.message}
    return {"settings": rows, "database": database}


# -- Alembic's read commands -------------------------------------------------------------

def current(settings: Settings) -> DatabaseState:
    """The database env.py connects to and its revision(s)."""
    return Workspace(settings).database()


def heads(settings: Settings) -> tuple[str, ...]:
    """The scripts' head revision(s)."""
    return Project(settings).heads()


def history(settings: Settings, rev_range: str | None = None) -> list[dict[str, Any]]:
    """The revisions, newest first, as Alembic's `history` walks them."""
    base, _, head = (rev_range or ":").partition(":")
    scripts = Project(settings).history(base or "base", head or "heads")
    return [
        {
            "revision": s.revision,
            "down_revisions": list(s._versioned_down_revisions),
            "doc": (s.doc or "").strip(),
            "is_head": s.is_head,
            "path": s.path,
        }
        for s in scripts
    ]


def stamp(settings: Settings, revisions: Sequence[str], *, report: Reporter = _ignore) -> DatabaseState:
    """Set alembic_version without migrating, under the lock and in the journal."""
    ws = Workspace(settings)
    state = ws.database()
    backend = ws.backend(state)
    for rev in revisions:
        if rev not in ("base", "heads"):
            # Refuse unknown or ambiguous revisions (and 'head' of several) before the
            # journal and the lock: nothing may change for a bad argument.
            ws.project.revision(rev)
    with ws.exclusive(backend, "stamp"):
        op = ws.journal.begin("stamp", database=backend.identity(),
                              heads=list(state.heads), target=list(revisions))
        with op.step("stamp"):
            ws.project.stamp(list(revisions))
        after = ws.database()
        op.finish("stamped", heads=list(after.heads))
    report(f"Stamped: {format_revs(after.heads)} (was {format_revs(state.heads)})")
    return after


