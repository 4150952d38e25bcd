"""Beside copies: a snapshot's tables made readable next to the live data, in a place
the live database's own connection can join against, without touching a live table.

    SQLite       a file materialized from the payload (proven against its digest),
                 which the connection ATTACHes under the copy's name
    PostgreSQL   a schema of its own in the live database (postgres/beside.py)
    MariaDB      a database of its own on the same server (mysql/beside.py)

Each copy is named by a key, ``sg_beside_<snapshot>`` for one a person asked for and
``sg_diff_<snapshot>`` for the one `safeguard diff` makes and drops; every object an
engine creates for it carries that key, so a crash's leftovers can be found and
dropped by name (`recover` does). The engine object is the copy: the store's record
of it (operations/beside.py) is written only once it is complete.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, Protocol

from ..durable import Progress
from ..errors import ConfigError, RestoreError
from ..manifest import Snapshot

if TYPE_CHECKING:
    from . import Backend

#: What every key starts with, by purpose.
PREFIXES = {"beside": "sg_beside_", "diff": "sg_diff_"}
_KEY = re.compile(r"^sg_(beside|diff)_\d{8}t\d{6}z_[0-9a-f]{6}$")


def key_for(snapshot_id: str, purpose: str = "beside") -> str:
    """The key of a copy of snapshot ``snapshot_id`` (lower case and underscores: an
    identifier no engine needs quoted)."""
    return PREFIXES[purpose] + snapshot_id.lower().replace("-", "_")


def check_key(key: str) -> str:
    """``key``, if it is one this module makes (it names engine objects to drop)."""
    if not _KEY.match(key):
        raise ConfigError(f"invalid beside copy name {key!r} (expected e.g. "
                          "sg_beside_20261125t201500z_3f9a1c)")
    return key


class BesideCopies(Protocol):
    """One engine's beside copies of one live database."""

    def qualifier(self, key: str) -> str:
        """What SQL on the live database's connection prefixes the copy's tables with
        (``qualifier.table``): the attached name, the schema, the database."""

    def location(self, key: str) -> str:
        """Where the copy is, for people."""

    def make(self, directory: Path, snapshot: Snapshot, key: str, *,
             tables: Collection[str] | None = None, progress: Progress = None) -> int:
        """Build the copy of the snapshot in ``directory`` (its ``tables`` only, when
        given), proven against the manifest on the way; its size in bytes. On failure
        nothing of it is left."""

    def drop(self, key: str) -> bool:
        """Drop the copy and whatever a crash left of its making; whether there was any."""

    def keys(self) -> list[str]:
        """The keys of every copy (complete or not) that exists in the engine."""

    def attach(self, dbapi_connection: Any, key: str) -> None:
        """Make the copy readable on a driver connection to the live database (SQLite:
        ATTACH; elsewhere nothing to do)."""

    def attach_sql(self, key: str) -> str | None:
        """The statement a person runs first to read the copy, if any."""


def beside_copies(backend: "Backend", root: Path) -> BesideCopies:
    """The beside copies of ``backend``'s database; ``root`` is the store's directory of
    them (where SQLite's files live)."""
    if backend.engine == "sqlite":
        return SQLiteBeside(backend, root)
    if backend.engine == "postgresql":
        from .postgres.beside import PostgresBeside

        return PostgresBeside(backend, root)  # type: ignore[arg-type]
    if backend.engine == "mysql":
        from .mysql.beside import MySQLBeside

        return MySQLBeside(backend, root)  # type: ignore[arg-type]
    raise ConfigError(f"no beside copies for {backend.engine} databases")


class SQLiteBeside:
    """SQLite: ``<store>/beside/<key>/database.sqlite``, made by the rehearsal copy's
    own path (decompressed if needed, every byte proven against the digest, the row
    counts against the manifest), attached read-only by name."""

    FILE = "database.sqlite"

    def __init__(self, backend: "Backend", root: Path) -> None:
        self.backend = backend
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / check_key(key) / self.FILE

    def qualifier(self, key: str) -> str:
        return check_key(key)

    def location(self, key: str) -> str:
        return f"the file {self.path(key)}"

    def make(self, directory: Path, snapshot: Snapshot, key: str, *,
             tables: Collection[str] | None = None, progress: Progress = None) -> int:
        workdir = self.path(key).parent
        try:
            self.backend.make_rehearsal_copy(workdir, key, snapshot=(directory, snapshot),
                                             progress=progress)
            path = workdir / self.FILE
            if tables is not None:
                with closing(sqlite3.connect(path)) as conn:
                    found = [r[0] for r in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%'")]
                    conn.execute("PRAGMA foreign_keys = OFF")
                    for name in found:
                        if name not in tables:
                            conn.execute(f'DROP TABLE "{name.replace(chr(34), chr(34) * 2)}"')
                    conn.commit()
                    conn.execute("VACUUM")
            path.chmod(0o400)  # a copy to read: a write to it would be lost with it
            return path.stat().st_size
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise

    def drop(self, key: str) -> bool:
        workdir = self.path(key).parent
        existed = workdir.exists()
        shutil.rmtree(workdir, ignore_errors=True)
        return existed

    def keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _KEY.match(p.name))

    def attach(self, dbapi_connection: Any, key: str) -> None:
        path = self.path(key)
        if not path.is_file():
            raise RestoreError(f"the beside copy {key} is gone ({path})")
        dbapi_connection.execute(f"ATTACH DATABASE ? AS {check_key(key)}", (f"{path}",))

    def attach_sql(self, key: str) -> str | None:
        quoted = str(self.path(key)).replace("'", "''")
        return f"ATTACH DATABASE '{quoted}' AS {check_key(key)};"
