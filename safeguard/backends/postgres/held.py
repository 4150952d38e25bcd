"""Snapshots held as databases on the server, not as files in the store: a template
copy (template.py) or the database a restore replaced (kept.py). The store holds a
small marker file naming the database (its digest proves the name); restoring one
copies the database (``CREATE DATABASE ... TEMPLATE``) so that it survives its own
restore, and discarding the snapshot drops it."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from ...durable import Progress
from ...errors import RestoreError
from ...manifest import Snapshot
from . import databases
from .server import Server, errors_as


class HeldDatabase:
    """What the strategies that keep a database on the server share."""

    #: The marker file in the snapshot's directory, and its key naming the database.
    marker: str
    marker_key: str
    #: What every such database's name contains (names.py), and how to call one.
    infix: str
    kind: str
    #: The manifest's ``extra`` key holding the database's size.
    size_key: str

    server: Server

    @classmethod
    def database_of(cls, directory: Path) -> str:
        """The database named by the marker (whose digest the store verifies)."""
        marker = directory / cls.marker
        try:
            name = json.loads(marker.read_text())[cls.marker_key]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RestoreError(f"the snapshot marker {marker} cannot be read: {exc}") from exc
        if not isinstance(name, str) or cls.infix not in name:
            raise RestoreError(f"the snapshot marker {marker} names no {cls.kind}")
        return name

    def materialize(self, conn: psycopg.Connection, directory: Path, snapshot: Snapshot,
                    target: str, *, progress: Progress = None) -> None:
        """Copy the held database to ``target`` (the held one stays a snapshot)."""
        held = self.database_of(directory)
        with errors_as(RestoreError, f"cannot copy the {self.kind} {held} to {target}"):
            if not databases.exists(conn, held):
                raise RestoreError(f"the {self.kind} {held} no longer exists on the server")
            databases.create_copy(conn, target, held)
        if progress:
            progress(int(snapshot.extra.get(self.size_key) or 0))

    def discard(self, directory: Path, snapshot: Snapshot) -> None:
        """Drop the held database."""
        held = self.database_of(directory)
        with errors_as(RestoreError, f"cannot drop the {self.kind} {held}"):
            with self.server.connect_maintenance() as conn:
                databases.drop(conn, held)
