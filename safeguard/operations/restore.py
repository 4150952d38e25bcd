"""`safeguard restore ID`: put a snapshot back by hand, with a safety snapshot of the
current state first and the health checks after. The restore itself is the one
restore-and-verify path, `restore.restore_snapshot`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import health
from ..config import Settings
from ..revisions import format_revs
from ..reporting import ProgressFactory, Reporter, no_progress, silent
from ..restore import RestoreResult, check_compatible, restore_snapshot
from ..store import Snapshot
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.to_dict(),
            "heads_before": list(self.heads_before),
            "dry_run": self.dry_run,
            "warnings": list(self.warnings),
            "safety_snapshot": self.safety_snapshot.id if self.safety_snapshot else None,
            "result": self.result.to_dict() if self.result else None,
            "health": self.health.to_dict() if self.health else None,
        }


def restore(settings: Settings, snapshot_id: str, *, dry_run: bool = False,
            report: Reporter = silent,
            progress: ProgressFactory = no_progress) -> ManualRestore:
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
        return ManualRestore(snapshot=snapshot, heads_before=state.heads, dry_run=True,
                             warnings=warnings)

    with ws.operation("restore", backend, f"restore {snapshot.id}") as held:
        backend.preflight()
        op = held.begin(snapshot=snapshot.id, heads=list(state.heads))
        safety = held.snapshot(step="safety-snapshot",
                               reason=f"safety snapshot before restoring {snapshot.id}",
                               revisions=state.heads,
                               progress=progress("Safety snapshot", backend.size()))
        report(f"Safety snapshot {safety.id} of the current state taken.")
        # Hashed above, before the safety snapshot: not read a second time.
        result = restore_snapshot(ws.store, backend, ws.project, snapshot, op=op,
                                  progress=progress("Restore", snapshot.size),
                                  checksum_verified=True)
        ctx = health.CheckContext(backend=backend, project=ws.project, settings=settings,
                                  database=state, expected_heads=snapshot.revisions)
        with op.step("check") as outcome:
            checks = health.run_checks(ctx)
            outcome["ok"] = checks.ok
        op.finish("restored", snapshot=snapshot.id, safety_snapshot=safety.id,
                  heads=list(result.heads), checks_ok=checks.ok)
    report(f"Restored {snapshot.id}: the database is at {format_revs(result.heads)} "
           f"(the previous state is in safety snapshot {safety.id}).")
    return ManualRestore(snapshot=snapshot, heads_before=state.heads, dry_run=False,
                         warnings=warnings, safety_snapshot=safety, result=result,
                         health=checks)
