"""`safeguard snapshot prune`: the retention policy (retention.py) applied to the store,
and to the remote when one is set: one decision over every snapshot either holds, so a
snapshot retention keeps is kept in both places (and several hosts pruning one remote
decide alike)."""

from __future__ import annotations

from datetime import datetime, timezone

from ..config import Settings
from ..manifest import Snapshot
from ..reporting import Reporter, silent
from ..retention import Decision, RetentionPolicy, decide, needed_by
from ..workspace import Workspace
from .snapshot import list_snapshots


def prune(settings: Settings, *, now: datetime | None = None, dry_run: bool = False,
          report: Reporter = silent) -> list[Decision]:
    """Apply the retention policy: delete what no rule keeps (nothing with dry_run)."""
    ws = Workspace(settings)
    now = now or datetime.now(timezone.utc)
    policy = RetentionPolicy.of(settings)
    if dry_run:
        return decide(_everywhere(settings), now, policy, protected=_protected(ws))
    backend = ws.backend(ws.database(check_known=False))
    # Under the lock: a snapshot being taken, or a migration's, is never pruned mid-way.
    with ws.operation("prune", backend, check_unfinished=False) as held:
        decisions = decide(_everywhere(settings), now, policy, protected=_protected(ws))
        doomed = [d for d in decisions if not d.keep]
        local = {s.id for s in ws.store.list()}
        if doomed:
            op = held.begin(of_database=False, snapshots=[d.snapshot.id for d in doomed])
            try:
                for d in doomed:
                    with op.step("delete", snapshot=d.snapshot.id):
                        if d.snapshot.id in local:
                            backend.discard(ws.store.path_of(d.snapshot.id), d.snapshot)
                            ws.store.delete(d.snapshot.id)
                        if ws.uploads.remote is not None:
                            ws.uploads.remote.delete(d.snapshot.id)
                    report(f"Pruned {d.snapshot.id} ({', '.join(d.reasons)})")
            except Exception as exc:
                op.finish("failed", error=f"{type(exc).__name__}: {exc}")  # the database is untouched
                raise
            op.finish("pruned", count=len(doomed))
    return decisions


def _everywhere(settings: Settings) -> list[Snapshot]:
    """Every snapshot in the store and on the remote."""
    return list_snapshots(settings)


def _protected(ws: Workspace) -> set[str]:
    """The snapshots the journal says are still needed (see retention.needed_by)."""
    return needed_by(ws.journal.operations())
