"""`safeguard snapshot prune`: the retention policy (retention.py) applied to the store,
and to the remote when one is set: one decision over every snapshot either holds, so a
snapshot retention keeps is kept in both places.

Several hosts may share one remote, each with its own journal. So with a remote, each
database's snapshots are decided alone (one host's keep_last never crowds out
another database's history), and each database's newest pre-migration and newest
safety snapshot are kept from their manifests alone, whichever host's journal knows
them: two hosts pruning at once decide alike, and lose nothing retention keeps."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Callable

from ..config import Settings
from ..errors import JournalDamagedError
from ..manifest import PRE_MIGRATION, Snapshot
from ..reporting import Reporter, silent
from ..retention import Decision, RetentionPolicy, counted, decide, needed_by
from ..workspace import Workspace
from . import beside
from .snapshot import list_snapshots


def prune(settings: Settings, *, now: datetime | None = None, dry_run: bool = False,
          report: Reporter = silent) -> list[Decision]:
    """Apply the retention policy: delete what no rule keeps (nothing with dry_run)."""
    ws = Workspace(settings)
    now = now or datetime.now(timezone.utc)
    policy = RetentionPolicy.of(settings)
    if dry_run:
        return _decide(ws, now, policy)
    backend = ws.backend(ws.database(check_known=False))
    # Under the lock: a snapshot being taken, or a migration's, is never pruned mid-way.
    with ws.operation("prune", backend, check_unfinished=False) as held:
        decisions = _decide(ws, now, policy)
        if ws.journal.damaged:
            raise JournalDamagedError(
                f"the journal {ws.journal.path}: line {ws.journal.damaged[0]} is damaged, and "
                "the snapshots a line of it names are kept (the one before the last migration, "
                "what an unfinished operation needs): prune deletes nothing until the damaged "
                "lines are repaired or removed")
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
                with op.step("drop-beside"):  # a copy beside the live data goes with its snapshot
                    beside.prune(ws, backend, {d.snapshot.id for d in doomed}, report)
            except Exception as exc:
                op.finish("failed", error=f"{type(exc).__name__}: {exc}")  # the database is untouched
                raise
            op.finish("pruned", count=len(doomed))
    return decisions


def _decide(ws: Workspace, now: datetime, policy: RetentionPolicy) -> list[Decision]:
    """Every snapshot's fate, in the store and on the remote (see the module doc)."""
    snapshots = list_snapshots(ws.settings)
    # The snapshots the journal says are still needed (see retention.needed_by).
    protected = needed_by(ws.journal.operations())
    if not ws.settings.remote:
        return decide(snapshots, now, policy, protected=protected)
    by_database: dict[str, list[Snapshot]] = defaultdict(list)
    for snapshot in snapshots:
        by_database[snapshot.database_name or snapshot.database].append(snapshot)
    decisions = []
    for group in by_database.values():
        real = counted(group, now)  # a planted or future-dated one displaces nothing
        kept = {found for found in (_newest(real, lambda s: s.reason.startswith(PRE_MIGRATION)),
                                    _newest(real, lambda s: s.safety)) if found}
        decisions += decide(group, now, policy, protected=protected | kept)
    return sorted(decisions, key=lambda d: (d.snapshot.created, d.snapshot.id), reverse=True)


def _newest(snapshots: list[Snapshot], which: Callable[[Snapshot], bool]) -> str | None:
    chosen = [s for s in snapshots if which(s)]
    return max(chosen, key=lambda s: (s.created, s.id)).id if chosen else None
