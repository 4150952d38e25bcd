"""`safeguard snapshot create|list|show`: taking a snapshot now, and reading the store
(and the remote, when one is set: see remote.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import interruption
from .. import remote as remotes
from ..config import Settings
from ..errors import RemoteError, SnapshotError, SnapshotNotFoundError
from ..reporting import ProgressFactory, Reporter, no_progress, silent
from ..store import Snapshot, SnapshotStore
from ..workspace import Workspace


@dataclass(frozen=True)
class Located:
    """A snapshot and where it is: ``("local",)``, ``("remote",)`` or both."""

    snapshot: Snapshot
    locations: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.snapshot.to_dict(), "locations": list(self.locations)}


def locate_snapshots(settings: Settings) -> list[Located]:
    """Every snapshot in the store and on the remote (when one is set), oldest first,
    with where each is. A snapshot whose manifest never reached the remote is not on it."""
    local = {s.id: s for s in SnapshotStore(settings.store_dir).list()}
    remote = remotes.of(settings)
    on_remote = set(remote.ids()) if remote else set()
    found = dict(local)
    for snapshot_id in on_remote - set(local):
        found[snapshot_id] = remote.get(snapshot_id)  # type: ignore[union-attr]
    return [Located(s, tuple(where for where, here in (("local", s.id in local),
                                                          ("remote", s.id in on_remote)) if here))
            for s in sorted(found.values(), key=lambda s: (s.created, s.id))]


def list_snapshots(settings: Settings) -> list[Snapshot]:
    """Every snapshot in the store and on the remote (when one is set), oldest first."""
    return [located.snapshot for located in locate_snapshots(settings)]


def show_snapshot(settings: Settings, snapshot_id: str) -> Snapshot:
    """One snapshot's manifest ('latest' names the newest that is not a safety
    snapshot); read from the remote when the store does not hold it."""
    store = SnapshotStore(settings.store_dir)
    try:
        return store.get(snapshot_id)
    except SnapshotNotFoundError:
        remote = remotes.of(settings)
        if remote is None:
            raise
    if snapshot_id == "latest":
        return remote.latest()
    store.path_of(snapshot_id)  # validates the id before it names a key
    return remote.get(snapshot_id)


def create_snapshot(settings: Settings, *, label: str | None = None, pin: bool = False,
                    reason: str = "manual", progress: ProgressFactory = no_progress,
                    report: Reporter = silent, stop_on_signal: bool = True) -> Snapshot:
    """Take a snapshot now, under the database's lock (a backup never runs during a
    migration, and a migration waits for a running backup).

    SIGINT and SIGTERM stop it (interruption.py): the partial snapshot is removed and
    the operation closed, OperationInterruptedError. Without ``stop_on_signal`` the
    caller's handlers decide (a scheduled run lets its snapshot finish)."""
    if not stop_on_signal:
        return _create(settings, label, pin, reason, progress, report)
    with interruption.handled("no snapshot was taken (the partial one was removed) and "
                              "nothing was changed", causes=(SnapshotError,)):
        return _create(settings, label, pin, reason, progress, report)


def _create(settings: Settings, label: str | None, pin: bool, reason: str,
            progress: ProgressFactory, report: Reporter) -> Snapshot:
    ws = Workspace(settings)
    # A backup needs no revision file (one that does not parse must not stop it).
    state = ws.database(check_known=False)
    backend = ws.backend(state)
    with ws.operation("snapshot", backend, f"snapshot {label or reason}") as held:
        # Re-read under the lock: a migration may have run while we waited.
        state = ws.database(check_known=False)
        backend.preflight()  # a snapshot that could not be restored is not one
        op = held.begin(label=label, reason=reason, heads=list(state.heads))
        snapshot = held.snapshot(reason=reason, revisions=state.heads, label=label, pinned=pin,
                                 progress=progress("Snapshot", backend.size()))
        op.finish("created", snapshot=snapshot.id, size=snapshot.size)
        report(f"Snapshot {snapshot.id}: {snapshot.size:,} bytes at {snapshot.revision or 'base'}")
        # Still under the lock: no prune elsewhere removes the files being uploaded.
        copies = ws.uploaded()
    for copy in copies:
        if not copy.ok:
            # A backup that was to leave the machine and did not is a failed backup.
            raise RemoteError(f"{copy.error} (the snapshot was taken and verified locally)")
        report(f"Uploaded to {copy.location}")
    return snapshot
