"""`safeguard restore ID`: put a snapshot back by hand, with a safety snapshot of the
current state and the health checks after. The safety snapshot is the database the
restore replaces, kept at no copy's cost where the engine can (SQLite moves the file
into the store as the swap replaces it, PostgreSQL renames the database the swap sets
aside), else a copy taken first. The restore itself is the one
restore-and-verify path, `restore.restore_snapshot`. A signal before the swap leaves
the database as it was; from the swap on, the restore completes (interruption.py)."""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .. import health, interruption
from ..backends import Backend, KeepsReplaced, KeepsSetAside
from ..config import Settings
from ..errors import (
    HealthCheckFailedError,
    OperationInterruptedError,
    RestoreRefusedError,
    SnapshotError,
)
from ..interruption import Interrupted, signal_name
from ..manifest import SAFETY_REASON
from ..reporting import ProgressFactory, Reporter, no_progress, silent
from ..restore import RestoreResult, check_compatible, refuse_users, restore_snapshot
from ..revisions import DatabaseState, format_revs
from ..store import Snapshot, SnapshotStore, new_snapshot_id
from ..workspace import Workspace


@dataclass(frozen=True)
class ManualRestore:
    """`safeguard restore ID`: what was (or, for a dry run, would be) done."""

    snapshot: Snapshot
    heads_before: tuple[str, ...]
    dry_run: bool
    warnings: tuple[str, ...] = ()
    safety_snapshot: Snapshot | None = None
    result: RestoreResult | None = None
    health: health.HealthReport | None = None
    #: The signal that arrived during the restore (SIGINT, SIGTERM), if one did.
    signal: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.to_dict(),
            "heads_before": list(self.heads_before),
            "dry_run": self.dry_run,
            "warnings": list(self.warnings),
            "safety_snapshot": self.safety_snapshot.id if self.safety_snapshot else None,
            "result": self.result.to_dict() if self.result else None,
            "health": self.health.to_dict() if self.health else None,
            "interrupted": self.signal is not None,
            "signal": self.signal,
        }


def restore(settings: Settings, snapshot_id: str, *, dry_run: bool = False,
            force: bool = False, any_database: bool = False, allow_unauthenticated: bool = False,
            report: Reporter = silent, progress: ProgressFactory = no_progress) -> ManualRestore:
    """Put a snapshot back: refuse a damaged or foreign one (a snapshot of another
    database unless ``any_database``; a remote one that is not authenticated unless
    ``allow_unauthenticated``), take a safety snapshot of the current state, restore,
    re-stamp, run the health checks, journal it all."""
    ws = Workspace(settings)

    def examine(hashed: bool = True) -> tuple[Snapshot, DatabaseState, tuple[str, ...]]:
        # An empty file is what a restore is for (a database truncated to nothing), and
        # so is a missing one (a new machine): see Workspace.restore_target.
        now = ws.restore_target(create=False)
        here = ws.backend(now)
        found = ws.snapshot(snapshot_id, here,  # from the remote when not here
                            allow_unauthenticated=allow_unauthenticated)
        check_compatible(found, here, any_database=any_database,
                         name=ws.name_of(here.engine, here.identity()))
        if hashed:
            ws.store.verify_checksum(found)
        return found, now, _script_warnings(ws, found)

    if dry_run:
        snapshot, state, warnings = examine()
        for warning in warnings:
            report(f"WARNING: {warning}")
        why_copy = _why_copy(ws.backend(state), ws.store, sharing=False)
        how = ("keep the database it replaces as the safety snapshot" if why_copy is None
               else f"take a safety snapshot of the current state first ({why_copy})")
        if not ws.backend(state).exists():
            how = "create the database file, which does not exist yet (nothing to keep)"
        report(f"Would restore {snapshot.id} ({format_revs(snapshot.revisions)}, {snapshot.created_at}) "
               f"over the current state ({format_revs(state.heads)}), and {how}.")
        return ManualRestore(snapshot=snapshot, heads_before=state.heads, dry_run=True,
                             warnings=warnings)

    backend = ws.backend(ws.restore_target(create=True))
    try:
        with interruption.handling():
            try:
                return _restore(ws, settings, snapshot_id, examine, backend, force=force,
                                any_database=any_database, report=report, progress=progress)
            except (Interrupted, SnapshotError):  # before the restore began: nothing changed
                signum = interruption.consume()
                if signum is None:
                    raise
                raise OperationInterruptedError(
                    f"interrupted by {signal_name(signum)} before the restore: nothing was restored; "
                    "the database is as it was", signum=signum) from None
    except BaseException:
        ws.discard_created()  # the empty file made for a restore that stopped before its swap
        raise
    finally:
        ws.uploaded(report)  # the safety snapshot's upload, beside the restore


def _script_warnings(ws: Workspace, snapshot: Snapshot) -> tuple[str, ...]:
    """What the scripts make of the snapshot's revision. A restore reads no revision
    file to put the database back, so scripts that cannot be loaded (a syntax error, an
    import that fails) are said, not fatal: broken scripts are when a restore is needed."""
    problem = ws.project.scripts_problem()
    if problem:
        return (f"{problem}; the restore goes on without them (whether they know revision "
                f"{format_revs(snapshot.revisions)} was not checked)",)
    return tuple(
        f"snapshot {snapshot.id} is at revision {rev}, which the current scripts do not "
        f"know: the database will be at a revision `safeguard upgrade` cannot start from"
        for rev in ws.project.unknown_revisions(snapshot.revisions))


def _why_copy(backend: Backend, store: SnapshotStore, *, sharing: bool) -> str | None:
    """Why the restore's safety snapshot must be a copy taken first, or None when the
    database the restore replaces can be kept as it is: SQLite moves the replaced file
    into the store as the swap replaces it (`KeepsReplaced`); PostgreSQL renames the
    database its swap sets aside (`KeepsSetAside`)."""
    if isinstance(backend, KeepsReplaced):
        return backend.cannot_keep_in(store.snapshots_dir, sharing=sharing)
    if isinstance(backend, KeepsSetAside):
        return None if backend.can_keep_replaced() else "the role may not rename databases: no CREATEDB"
    return "this engine cannot keep it"


def _restore(ws: Workspace, settings: Settings, snapshot_id: str,
             examine: Callable[[bool], tuple[Snapshot, DatabaseState, tuple[str, ...]]],
             backend: Backend, *, force: bool, any_database: bool, report: Reporter,
             progress: ProgressFactory) -> ManualRestore:
    """The restore under the lock; a signal stops it only before the swap."""
    with ExitStack() as stack:
        with interruption.stoppable():
            held = stack.enter_context(ws.operation("restore", backend, f"restore {snapshot_id}"))
        # Everything decided on is read under the lock: an operation that held it
        # meanwhile may have migrated the database (the safety snapshot must say so)
        # or pruned the snapshot.
        snapshot, state, warnings = examine(False)
        sharing = refuse_users(backend, force=force)
        warnings += sharing
        for warning in warnings:
            report(f"WARNING: {warning}")
        backend.preflight()
        ws.store.ensure_writable()
        why_copy = _why_copy(backend, ws.store, sharing=bool(sharing))
        moves_in = why_copy is None and isinstance(backend, KeepsReplaced)
        if not moves_in:
            # Hashed before anything is paid for. Moved in instead (SQLite), the snapshot
            # is proven once, as it is copied in (a damaged one is refused there, exit 10
            # all the same).
            ws.store.verify_checksum(snapshot)
        foreign: dict[str, Any] = {"from_database": snapshot.database} if any_database else {}
        op = held.begin(snapshot=snapshot.id, heads=list(state.heads), **foreign)
        reason = f"{SAFETY_REASON} {snapshot.id}"
        safety: Snapshot | None = None
        keep: Path | None = None  # SQLite: the replaced file moves in here at the swap
        kept: list[Snapshot] = []

        def keep_set_aside() -> None:
            """PostgreSQL, right after the swap: the database it set aside becomes the
            safety snapshot."""
            with op.step("safety-snapshot", kept=True) as outcome:
                assert isinstance(backend, KeepsSetAside)
                taken = ws.store.create(backend, reason=reason, revisions=state.heads,
                                        safety=True, take=backend.keep_replaced)
                outcome["snapshot"] = taken.id
            kept.append(taken)

        if moves_in:
            safety_id = new_snapshot_id()
            # Journaled before the swap: recover finishes a kept payload it finds.
            op.record("safety-snapshot", "keeping", durable=True, snapshot=safety_id)
            keep = ws.store.begin_kept(safety_id)
        elif why_copy is not None:
            report(f"Safety snapshot: copying the current state ({why_copy}).")
            safety = held.snapshot(step="safety-snapshot", reason=reason, safety=True,
                                   revisions=state.heads,
                                   progress=progress("Safety snapshot", backend.size()))
            report(f"Safety snapshot {safety.id} of the current state taken.")
        try:
            # Hashed above (or proven on the way in): not read a second time.
            # examine() found the snapshot this database's (or --any-database): by its
            # name on every machine too, which restore_snapshot's own check does not know.
            result = restore_snapshot(ws.store, backend, ws.project, snapshot, op=op,
                                      progress=progress("Restore", snapshot.size),
                                      checksum_verified=True, any_database=True,
                                      keep=keep,
                                      keep_replaced=None if why_copy or moves_in else keep_set_aside)
        except RestoreRefusedError as exc:
            # Stopped before the swap: nothing for `recover` to finish.
            if keep is not None:
                shutil.rmtree(keep, ignore_errors=True)
            op.finish("refused", error=str(exc), heads=list(state.heads),
                      safety_snapshot=safety.id if safety else None)
            raise
        except Interrupted as exc:
            # Before the swap: the backend dropped its copy, the live database is untouched.
            if keep is not None:
                shutil.rmtree(keep, ignore_errors=True)
            interruption.consume()
            op.finish("aborted", error=f"stopped by {exc.name} before the swap",
                      interrupted=exc.name, heads=list(state.heads))
            kept_note = f" (safety snapshot {safety.id} is kept)" if safety else ""
            raise OperationInterruptedError(
                f"interrupted by {exc.name} before the swap: nothing was restored; the database "
                f"is still at {format_revs(state.heads)}{kept_note}",
                signum=exc.signum,
                report=ManualRestore(snapshot=snapshot, heads_before=state.heads, dry_run=False,
                                     warnings=warnings, safety_snapshot=safety,
                                     signal=exc.name)) from None
        if moves_in:
            assert isinstance(backend, KeepsReplaced)
            with interruption.finishing("the restore"), op.step("safety-snapshot") as outcome:
                safety = ws.store.finish_kept(backend, safety_id, reason=reason,
                                              revisions=state.heads, safety=True)
                outcome["snapshot"] = safety.id
                outcome["kept"] = True
            ws.uploads.start(safety)  # a file like any other: off the machine too
            report(f"Safety snapshot {safety.id}: the replaced database, kept without a copy.")
        elif safety is None:
            safety = kept[0]
            report(f"Safety snapshot {safety.id}: the replaced database, kept on the server.")
        with interruption.finishing("the restore"):
            # What the restore proved (every byte against the digest) is not read again.
            ctx = health.CheckContext(backend=backend, project=ws.project, settings=settings,
                                      database=state, expected_heads=snapshot.revisions,
                                      proven=backend.restore_proof)
            with op.step("check") as outcome:
                checks = health.run_checks(ctx)
                outcome["ok"] = checks.ok
            signum = interruption.consume()
            signal = signal_name(signum) if signum else None
            op.finish("restored", snapshot=snapshot.id, safety_snapshot=safety.id,
                      heads=list(result.heads), checks_ok=checks.ok,
                      **({"interrupted": signal} if signal else {}))
    done = ManualRestore(snapshot=snapshot, heads_before=state.heads, dry_run=False,
                         warnings=warnings, safety_snapshot=safety, result=result,
                         health=checks, signal=signal)
    if signum is not None:
        raise OperationInterruptedError(
            f"interrupted by {signal} after the swap: the restore of {snapshot.id} was completed "
            f"first; the database is at {format_revs(result.heads)} (the previous state is in "
            f"safety snapshot {safety.id})", signum=signum, report=done)
    for line in checks.lines():
        report(line)
    if not checks.ok:
        # The restore is complete and journaled: nothing is pending; the checks say what
        # is wrong with the database it put back.
        raise HealthCheckFailedError(
            f"restored {snapshot.id}, but the health checks after it failed: "
            f"{checks.summary()}; the restored database is left in place, the previous "
            f"state is in safety snapshot {safety.id}", report=done)
    report(f"Restored {snapshot.id}: the database is at {format_revs(result.heads)} "
           f"(the previous state is in safety snapshot {safety.id}).")
    return done
