"""Beside copies on MariaDB and MySQL: a snapshot loaded into a database of its own on
the live database's server, ``D__sg_beside_S``, where one query can join its tables
with the live ones (``D__sg_beside_S.properties``).

The load is the restore's own (dump.py: the payload's digest proven on the way
through); then the tables not asked for are dropped, and so are the copy's triggers
and events (a copy is for reading: an event must not fire in it, a trigger must not
write on its behalf). A crash leaves a database named by the copy's key, which
`recover` drops. The live database is never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection

from ...durable import Progress
from ...errors import RestoreError
from ...manifest import Snapshot
from ..beside import PREFIXES, check_key
from . import catalog, dump, names
from .server import errors_as, quote

if TYPE_CHECKING:
    from .backend import MySQLBackend


class MySQLBeside:
    """Beside copies of one MariaDB/MySQL database, as databases on its server."""

    def __init__(self, backend: "MySQLBackend", root: Path) -> None:
        self.backend = backend
        self.server = backend.server
        self.root = root

    def qualifier(self, key: str) -> str:
        return names.beside(self.server.database, check_key(key))

    def location(self, key: str) -> str:
        return f"the database {self.qualifier(key)} on {self.server.identity().rpartition('/')[0]}"

    def make(self, directory: Path, snapshot: Snapshot, key: str, *,
             tables: Collection[str] | None = None, progress: Progress = None) -> int:
        target = self.qualifier(key)
        try:
            with errors_as(RestoreError, f"cannot prepare {target}"):
                with self.server.connect(None) as conn, conn.cursor() as cur:
                    dump.load_inert(self.server, self.backend.tools, cur, directory, snapshot,
                                    target, progress=progress)
                    if tables is not None:
                        cur.execute("SET SESSION foreign_key_checks = 0")
                        for table in catalog.tables(cur, target):
                            if table not in tables:
                                cur.execute(f"DROP TABLE {quote(target)}.{quote(table)}")
                    return max(catalog.size(cur, target), 1)
        except BaseException:
            dump.drop_quietly(self.server, target)
            raise

    def drop(self, key: str) -> bool:
        target = self.qualifier(key)
        with errors_as(RestoreError, f"cannot drop the beside copy {target}"):
            with self.server.connect(None) as conn, conn.cursor() as cur:
                existed = catalog.exists(cur, target)
                cur.execute(f"DROP DATABASE IF EXISTS {quote(target)}")
        return existed

    def keys(self) -> list[str]:
        with errors_as(RestoreError, f"cannot reach {self.server.identity()}"):
            with self.server.connect(None) as conn, conn.cursor() as cur:
                found = catalog.rows(cur, "SELECT schema_name FROM information_schema.schemata")
        keys = []
        for (name,) in found:
            key = name.rpartition("__")[2]
            if key.startswith(tuple(PREFIXES.values())) and self.qualifier(key) == name:
                keys.append(key)
        return sorted(keys)

    def attach(self, dbapi_connection: Any, key: str) -> None:
        """Nothing: the copy is a database on the same server."""

    def attach_sql(self, key: str) -> str | None:
        return None
