"""`safeguard snapshot create|list|show`: taking a snapshot now, and reading the store
(and the remote, when one is set: see remote.py)."""

from __future__ import annotations

import logging

from .. import interruption, preconditions
from .. import remote as remotes
from ..config import Settings
from ..errors import RemoteError, SafeguardError, SnapshotError, SnapshotNotFoundError
from ..inventory import Listing, locate
from ..reporting import ProgressFactory, Reporter, no_progress, silent, size_words
from ..store import Snapshot, SnapshotStore
from ..workspace import Workspace

log = logging.getLogger(__name__)


def locate_snapshots(settings: Settings, *, remote_optional: bool = False) -> Listing:
    """Every snapshot in the store, on the remote (when one is set) and kept on the
    database's server, oldest first, with where each is (inventory.py). The server is
    asked when the database can be reached; its kept databases are listed from their
    own markers even when no manifest of them is left. With ``remote_optional`` a
    remote that cannot be read is a warning (`snapshot list`); else it is the error."""
    ws = Workspace(settings)
    try:
        backend = ws.backend(ws.database(check_known=False))
    except SafeguardError:  # no database to ask: the store and the remote still list
        backend = None
    return locate(settings, backend, remote_optional=remote_optional)


def list_snapshots(settings: Settings) -> list[Snapshot]:
    """Every snapshot in the store, on the remote and on the server, oldest first; what
    could not be read is logged as a warning."""
    listing = locate_snapshots(settings)
    for warning in listing.warnings:
        log.warning("%s", warning)
    return [located.snapshot for located in listing.located]


def show_snapshot(settings: Settings, snapshot_id: str) -> Snapshot:
    """One snapshot's manifest ('latest' names the newest that is not a safety
    snapshot; a unique prefix or suffix of an id names that one); read from the remote
    when the store does not hold it."""
    store = SnapshotStore(settings.store_dir)
    remote = remotes.of(settings)
    # A unique prefix or suffix of an id, here or on the remote, names that snapshot.
    snapshot_id = store.resolve(snapshot_id, remote.ids if remote is not None else None)
    try:
        return store.get(snapshot_id)
    except SnapshotNotFoundError:
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
        # A snapshot this role could not restore is no backup: refused, naming what is missing.
        preconditions.gather(ws, backend, snapshot_for=(preconditions.SNAPSHOT_CREATE,),
                             restore_for=(preconditions.SNAPSHOT_CREATE,)
                             ).require(f"no snapshot of {backend.identity()} was taken")
        op = held.begin(label=label, reason=reason, heads=list(state.heads))
        snapshot = held.snapshot(reason=reason, revisions=state.heads, label=label, pinned=pin,
                                 progress=progress("Snapshot", backend.size()))
        op.finish("created", snapshot=snapshot.id, size=snapshot.size)
        report(f"Snapshot {snapshot.id}: {size_words(snapshot.size)} at {snapshot.revision or 'base'}")
        # Still under the lock: no prune elsewhere removes the files being uploaded.
        copies = ws.uploaded()
    for copy in copies:
        if not copy.ok:
            # A backup that was to leave the machine and did not is a failed backup.
            raise RemoteError(f"{copy.error} (the snapshot was taken and verified locally)")
        report(f"Uploaded to {copy.location}")
    return snapshot
