"""The inventory: every snapshot of the project and where it is.

    local   the store holds its manifest (and payload)
    remote  the remote holds its manifest (remote.py)
    server  its payload is a database kept on the server beside the live one, found
            there by its own marker (backends.HoldsOnServer: PostgreSQL's kept
            databases), whether or not any manifest of it is left

A snapshot whose manifest never reached the remote is not on it. A kept database whose
manifest was only in a store now lost is still listed, from its marker, so `snapshot
list` shows it and retention (pruning.py) decides on it like any other snapshot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from . import remote as remotes
from .backends import Backend, HoldsOnServer
from .config import Settings
from .errors import SafeguardError
from .manifest import Snapshot
from .store import SnapshotStore

log = logging.getLogger(__name__)

LOCAL, REMOTE, SERVER = "local", "remote", "server"


@dataclass(frozen=True)
class Located:
    """A snapshot and where it is: any of ``("local", "remote", "server")``."""

    snapshot: Snapshot
    locations: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.snapshot.to_dict(), "locations": list(self.locations)}


@dataclass(frozen=True)
class Listing:
    """The snapshots found, oldest first, and what could not be read (warnings)."""

    located: tuple[Located, ...]
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"snapshots": [entry.to_dict() for entry in self.located],
                "warnings": list(self.warnings)}


def locate(settings: Settings, backend: Backend | None = None, *,
           remote_optional: bool = False) -> Listing:
    """Every snapshot in the store, on the remote (when one is set) and, given the
    database's ``backend``, on its server; oldest first, with where each is. A remote
    manifest that cannot be read is skipped with a warning (remote.scan). The server is
    asked at its best: when it cannot be reached the rest is listed. So is the remote
    with ``remote_optional`` (its snapshots are then left out, with a warning)."""
    local = {s.id: s for s in SnapshotStore(settings.store_dir).list()}
    remote = remotes.of(settings)
    on_remote: dict[str, Snapshot] = {}
    warnings: list[str] = []
    if remote is not None:
        try:
            found_remote, warnings = remote.scan()
        except SafeguardError as exc:
            if not remote_optional:
                raise
            found_remote, warnings = [], [f"{exc}; listing the local store only"]
        on_remote = {s.id: s for s in found_remote}
    found = {**on_remote, **local}  # a snapshot in both is read from the local store
    on_server: set[str] = set()
    if isinstance(backend, HoldsOnServer):
        try:
            held = backend.on_server()
        except SafeguardError as exc:
            log.warning("the snapshots kept on the server are not listed: %s", exc)
            held = []
        for snapshot in held:
            on_server.add(snapshot.id)
            found.setdefault(snapshot.id, snapshot)  # a manifest, where there is one, says more
    located = tuple(
        Located(s, tuple(where for where, here in ((LOCAL, s.id in local),
                                                      (REMOTE, s.id in on_remote),
                                                      (SERVER, s.id in on_server)) if here))
        for s in sorted(found.values(), key=lambda s: (s.created, s.id)))
    return Listing(located, tuple(warnings))
