"""Beside copies on PostgreSQL: a snapshot's tables in a schema of its own, ``KEY``,
inside the live database, where one query can join them with the live tables.

pg_restore cannot restore into another schema than the dump names, so:

    1. restore the snapshot into a scratch database ``D.sg-KEY`` (the restore's own
       path: pg_restore of a dump, or a copy of a held database)
    2. there: drop the tables not asked for, ALTER SCHEMA public RENAME TO KEY
    3. pg_dump -n KEY of the scratch database into a file in the store
    4. pg_restore --single-transaction of that file into the live database: the
       schema appears whole or not at all, owned by the role safeguard connects as
    5. drop the scratch database and the file

A crash at any step leaves the scratch database, the file or (after 4) the schema, each
named by KEY: `recover` drops them (`drop`). The live database's own tables are never
touched; the only change to it is the new schema. The tables of schemas other than
public, and objects of extensions living in public, are not carried over.
"""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection

import psycopg
from psycopg import sql

from ... import durable, faults
from ...durable import Progress
from ...errors import RestoreError
from ...manifest import Snapshot
from ..beside import PREFIXES, check_key
from . import databases, names, tools
from .dump import DumpStrategy
from .server import errors_as

if TYPE_CHECKING:
    from .backend import PostgresBackend

log = logging.getLogger(__name__)


class PostgresBeside:
    """Beside copies of one PostgreSQL database, as schemas inside it."""

    def __init__(self, backend: "PostgresBackend", root: Path) -> None:
        self.backend = backend
        self.server = backend.server
        self.root = root

    def qualifier(self, key: str) -> str:
        return check_key(key)

    def location(self, key: str) -> str:
        return f"the schema {check_key(key)} of {self.server.identity()}"

    def scratch(self, key: str) -> str:
        return names.beside(self.server.database, check_key(key))

    def make(self, directory: Path, snapshot: Snapshot, key: str, *,
             tables: Collection[str] | None = None, progress: Progress = None) -> int:
        scratch, workdir = self.scratch(key), self.root / f".tmp-{check_key(key)}"
        what = f"cannot restore snapshot {snapshot.id} beside {self.server.identity()}"
        started = time.perf_counter()
        try:
            with errors_as(RestoreError, what), closing(self.server.connect_maintenance()) as conn:
                databases.drop(conn, scratch)
                strategy = self.backend._strategy_of(snapshot)
                extra: dict[str, Any] = {"analyze": False} if isinstance(strategy, DumpStrategy) else {}
                strategy.materialize(conn, directory, snapshot, scratch, progress=progress, **extra)
            faults.point("postgres:beside:scratch")
            log.info("beside %s: scratch restore in %.2fs", key, time.perf_counter() - started)
            with errors_as(RestoreError, what), closing(self.server.connect(scratch)) as inside:
                if tables is not None:
                    for (table,) in inside.execute(
                            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
                        if table not in tables:
                            inside.execute(sql.SQL("DROP TABLE IF EXISTS public.{} CASCADE").format(
                                sql.Identifier(table)))
                inside.execute(sql.SQL("ALTER SCHEMA public RENAME TO {}").format(sql.Identifier(key)))
            durable.make_dir(workdir)
            dumped = workdir / "beside.dump"
            pg_dump, pg_restore = self.backend.tools.get("pg_dump"), self.backend.tools.get("pg_restore")
            with self.server.client_environment() as env:
                tools.run([pg_dump.path, "--format=custom", "--compress=0", f"--file={dumped}",
                           "--no-password",
                           f"--schema={key}", f"--dbname={self.server.conninfo(scratch)}"],
                          env=env, error=RestoreError, what=f"pg_dump of {scratch}")
                faults.point("postgres:beside:dumped")
                log.info("beside %s: renamed and dumped at %.2fs", key, time.perf_counter() - started)
                tools.run([pg_restore.path, "--exit-on-error", "--single-transaction",
                           "--no-owner", "--no-privileges", "--no-password",
                           f"--dbname={self.server.conninfo()}", str(dumped)],
                          env=env, error=RestoreError, what=f"pg_restore of {key} into "
                                                            f"{self.server.database}")
            faults.point("postgres:beside:restored")
            log.info("beside %s: restored into the live database at %.2fs", key,
                     time.perf_counter() - started)
            with errors_as(RestoreError, what), closing(self.server.connect()) as live:
                size = live.execute(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')", (key,)).fetchone()[0]
        except BaseException:
            self._drop_quietly(key)
            raise
        self._drop_scratch(key)
        return int(size)

    def drop(self, key: str) -> bool:
        with errors_as(RestoreError, f"cannot drop the beside copy {key}"):
            with closing(self.server.connect()) as live:
                existed = live.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                                       (check_key(key),)).fetchone() is not None
                live.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(key)))
        return self._drop_scratch(key) or existed

    def _drop_scratch(self, key: str) -> bool:
        workdir = self.root / f".tmp-{check_key(key)}"
        existed = workdir.exists()
        shutil.rmtree(workdir, ignore_errors=True)
        with errors_as(RestoreError, f"cannot drop the scratch database of {key}"):
            with closing(self.server.connect_maintenance()) as conn:
                existed = databases.exists(conn, self.scratch(key)) or existed
                databases.drop(conn, self.scratch(key))
        return existed

    def _drop_quietly(self, key: str) -> None:
        try:
            self.drop(key)
        except (RestoreError, psycopg.Error):
            pass  # the error being raised is the one to report; `recover` drops the rest

    def keys(self) -> list[str]:
        with errors_as(RestoreError, f"cannot reach {self.server.identity()}"):
            with closing(self.server.connect()) as live:
                found = {row[0] for row in live.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'sg\\_beside\\_%' "
                    "OR nspname LIKE 'sg\\_diff\\_%'")}
            with closing(self.server.connect_maintenance()) as conn:
                found |= {row[0].rpartition(names.BESIDE)[2] for row in conn.execute(
                    "SELECT datname FROM pg_database WHERE strpos(datname, %s) > 0",
                    (names.BESIDE + "sg_",))
                    if row[0] == names.beside(self.server.database, row[0].rpartition(names.BESIDE)[2])}
        return sorted(k for k in found if k.startswith(tuple(PREFIXES.values())))

    def attach(self, dbapi_connection: Any, key: str) -> None:
        """Nothing: the schema is in the live database."""

    def attach_sql(self, key: str) -> str | None:
        return None
