"""`safeguard snapshot create|list|show`: taking a snapshot now, and reading the store."""

from __future__ import annotations

from ..config import Settings
from ..reporting import ProgressFactory, Reporter, no_progress, silent
from ..store import Snapshot, SnapshotStore
from ..workspace import Workspace


def list_snapshots(settings: Settings) -> list[Snapshot]:
    """Every snapshot in the store, oldest first."""
    return SnapshotStore(settings.store_dir).list()


def show_snapshot(settings: Settings, snapshot_id: str) -> Snapshot:
    """One snapshot's manifest ('latest' names the newest)."""
    return SnapshotStore(settings.store_dir).get(snapshot_id)


def create_snapshot(settings: Settings, *, label: str | None = None, pin: bool = False,
                    reason: str = "manual", progress: ProgressFactory = no_progress,
                    report: Reporter = silent) -> Snapshot:
    """Take a snapshot now, under the database's lock (a backup never runs during a
    migration, and a migration waits for a running backup)."""
    ws = Workspace(settings)
    state = ws.database()
    backend = ws.backend(state)
    with ws.operation("snapshot", backend, f"snapshot {label or reason}") as held:
        state = ws.database()  # re-read under the lock: a migration may have run while we waited
        op = held.begin(label=label, reason=reason, heads=list(state.heads))
        snapshot = held.snapshot(reason=reason, revisions=state.heads, label=label, pinned=pin,
                                 progress=progress("Snapshot", backend.size()))
        op.finish("created", snapshot=snapshot.id, size=snapshot.size)
    report(f"Snapshot {snapshot.id}: {snapshot.size:,} bytes at {snapshot.revision or 'base'}")
    return snapshot
