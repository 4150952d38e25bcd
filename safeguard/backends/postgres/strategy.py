"""The two ways to snapshot a PostgreSQL database, behind one small protocol.

* ``dump`` (default; dump.py): pg_dump into the snapshot directory. Works while the
  application keeps running; costs a full read and, on restore, a full rebuild.
* ``template`` (template.py): ``CREATE DATABASE ... TEMPLATE``, a file-level copy on
  the server. Much faster, but needs the database to itself (a deploy window), and
  the copy lives on the server, not in the store.

A snapshot is restored by the strategy that took it (``extra["strategy"]`` in its
snapshot), whatever the settings say now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import psycopg

from ...durable import Progress
from ...manifest import Payload, Snapshot


class Strategy(Protocol):
    """Take, check and materialise one kind of PostgreSQL snapshot."""

    name: str

    def snapshot(self, directory: Path, *, progress: Progress = None) -> Payload:
        """Write the snapshot's payload into ``directory``."""

    def verify(self, directory: Path, snapshot: Snapshot) -> list[str]:
        """Problems found reading the snapshot back as a database."""

    def materialize(self, conn: psycopg.Connection, directory: Path, snapshot: Snapshot,
                    target: str, *, progress: Progress = None) -> None:
        """Create the database ``target`` holding the snapshot's contents (dropping
        it again if that fails). ``conn`` is a maintenance connection."""

    def discard(self, directory: Path, snapshot: Snapshot) -> None:
        """Release what the snapshot holds outside its directory, if anything."""
