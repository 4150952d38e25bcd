"""Pruning: the retention policy (retention.py, a pure function of the list and `now`)
applied to every snapshot of the inventory (the store, the remote, the server: see
inventory.py), one decision over all of them, so a snapshot retention keeps is kept
everywhere; deletions journaled as one `prune` operation.

It runs on `safeguard snapshot prune`, on scheduled jobs that ask (`; prune`), and
after every operation that adds a snapshot (Workspace.operation; `auto_prune = false`
turns that off), so neither the store nor the server grows without bound. Never
pruned, whatever the policy says: pinned snapshots, the snapshots the operation that
just ended added, and those the journal says are still needed (retention.needed_by:
an unfinished operation's, the latest migration's and restore's).

Several hosts may share one remote, each with its own journal. So with a remote, each
database's snapshots are decided alone (one host's keep_last never crowds out
another database's history), and each database's newest pre-migration and newest
safety snapshot are kept from their manifests alone, whichever host's journal knows
them: two hosts pruning at once decide alike, and lose nothing retention keeps.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from .backends import Backend, HoldsOnServer
from .errors import JournalDamagedError
from .inventory import LOCAL, REMOTE, SERVER, Located, locate
from .manifest import PRE_MIGRATION, Snapshot
from .operations import beside
from .reporting import Reporter, silent
from .retention import Decision, RetentionPolicy, counted, decide, needed_by

if TYPE_CHECKING:
    from .workspace import Workspace

log = logging.getLogger(__name__)


def decisions(ws: Workspace, located: list[Located], now: datetime, *,
              protect: Collection[str] = ()) -> list[Decision]:
    """Every located snapshot's fate under the settings' policy, newest first (see the
    module doc); ``protect`` are kept whatever the policy says."""
    policy = RetentionPolicy.of(ws.settings)
    snapshots = [entry.snapshot for entry in located]
    protected = needed_by(ws.journal.operations()) | set(protect)
    if not ws.settings.remote:
        return decide(snapshots, now, policy, protected=protected)
    by_database: dict[str, list[Snapshot]] = defaultdict(list)
    for snapshot in snapshots:
        by_database[snapshot.database_name or snapshot.database].append(snapshot)
    out = []
    for group in by_database.values():
        real = counted(group, now)  # a planted or future-dated one displaces nothing
        kept = {found for found in (_newest(real, lambda s: s.reason.startswith(PRE_MIGRATION)),
                                    _newest(real, lambda s: s.safety)) if found}
        out += decide(group, now, policy, protected=protected | kept)
    return sorted(out, key=lambda d: (d.snapshot.created, d.snapshot.id), reverse=True)


def prune_held(ws: Workspace, backend: Backend, now: datetime, *, protect: Collection[str] = (),
               remote_optional: bool = False, report: Reporter = silent) -> list[Decision]:
    """Decide, then delete what no rule keeps, wherever it is; the caller holds the
    database (Workspace.operation), so no snapshot being taken is pruned mid-way.

    With ``remote_optional`` a remote that cannot be listed is left out of it: the
    store's snapshots are decided on alone, which keeps every one the decision over
    both would keep (more snapshots only ever make an older one less likely to be
    kept), and the remote is pruned next time."""
    listing = locate(ws.settings, backend, remote_optional=remote_optional)
    for warning in listing.warnings:  # a remote manifest skipped, say
        # After an operation (remote_optional) the remote's trouble was said already,
        # by the upload: not again here.
        log.log(logging.INFO if remote_optional else logging.WARNING, "%s", warning)
    located = listing.located
    decided = decisions(ws, list(located), now, protect=protect)
    doomed = [d for d in decided if not d.keep]
    if not doomed:
        return decided
    if ws.journal.damaged:
        raise JournalDamagedError(
            f"the journal {ws.journal.path}: line {ws.journal.damaged[0]} is damaged, and "
            "the snapshots a line of it names are kept (the one before the last migration, "
            "what an unfinished operation needs): prune deletes nothing until the damaged "
            "lines are repaired or removed")
    where = {entry.snapshot.id: entry.locations for entry in located}
    op = ws.journal.begin("prune", snapshots=[d.snapshot.id for d in doomed])
    try:
        for d in doomed:
            with op.step("delete", snapshot=d.snapshot.id):
                _delete(ws, backend, d.snapshot, where[d.snapshot.id])
            report(f"Pruned {d.snapshot.id} ({', '.join(d.reasons)})")
        with op.step("drop-beside"):  # a copy beside the live data goes with its snapshot
            beside.prune(ws, backend, {d.snapshot.id for d in doomed}, report)
    except Exception as exc:
        op.finish("failed", error=f"{type(exc).__name__}: {exc}")  # the database is untouched
        raise
    op.finish("pruned", count=len(doomed))
    return decided


def _delete(ws: Workspace, backend: Backend, snapshot: Snapshot, locations: tuple[str, ...]) -> None:
    """Delete one snapshot everywhere it is: its payload beyond the store first (a kept
    database), then the store's copy, the remote's."""
    if LOCAL in locations:
        backend.discard(ws.store.path_of(snapshot.id), snapshot)
        ws.store.delete(snapshot.id)
    elif SERVER in locations and isinstance(backend, HoldsOnServer):
        backend.drop_on_server(snapshot)  # no manifest here: by the database's own marker
    if REMOTE in locations and ws.uploads.remote is not None:
        ws.uploads.remote.delete(snapshot.id)


def _newest(snapshots: list[Snapshot], which: Callable[[Snapshot], bool]) -> str | None:
    chosen = [s for s in snapshots if which(s)]
    return max(chosen, key=lambda s: (s.created, s.id)).id if chosen else None
