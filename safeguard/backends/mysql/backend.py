"""MySQLBackend: one MySQL or MariaDB database behind the Backend protocol."""

from __future__ import annotations

import shutil
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, ContextManager, Iterator, Mapping, Sequence

import pymysql
from sqlalchemy.engine import URL

from ... import durable, interruption
from ...durable import Progress
from ...errors import RefusedError, RestoreError, SnapshotError
from ...footprint import Schema
from ...manifest import Payload, Snapshot
from .. import TableProgress, count_mismatches, refusals, refuse_blocked
from . import catalog, dump, names, swap
from . import sessions as mysql_sessions
from .lock import named_lock
from .server import Server, errors_as, quote
from .tools import ClientTools

if TYPE_CHECKING:
    from ...config import Settings


class MySQLBackend:
    """A MySQL or MariaDB database. Constructing one never connects."""

    engine = "mysql"
    #: The load proves the payload's digest on the way through, before the swap.
    proves_payload_on_restore = True
    restore_proof: str | None = None

    def __init__(self, url: URL, settings: "Settings | None" = None) -> None:
        self.url = url
        self.server = Server.from_url(url, lock_wait_timeout=(
            settings.table_lock_timeout if settings else Server.lock_wait_timeout))
        self.tools = ClientTools()
        self.compression = settings.compression if settings else "none"
        self.compression_level = getattr(settings, "compression_level", 3) if settings else 3

    # -- facts -------------------------------------------------------------------

    def identity(self) -> str:
        return self.server.identity()

    def exists(self) -> bool:
        with errors_as(RefusedError, f"cannot reach {self.identity()}"):
            with self.server.connect(None) as conn, conn.cursor() as cur:
                return catalog.exists(cur, self.server.database)

    def size(self) -> int:
        with self._cursor() as cur:
            return catalog.size(cur, self.server.database)

    def row_counts(self, tables: Collection[str] | None = None, *,
                   connection: Any = None) -> dict[str, int]:
        """Exact rows per table, counted in one consistent snapshot (or as
        ``connection``'s open transaction sees them)."""
        if connection is not None:
            with connection.cursor() as cur:
                return catalog.row_counts(cur, self._database_of(cur), tables)
        with self._cursor() as cur:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            try:
                return catalog.row_counts(cur, self.server.database, tables)
            finally:
                cur.execute("ROLLBACK")

    def schema(self, *, connection: Any = None) -> Schema:
        if connection is not None:
            with connection.cursor() as cur:
                return catalog.schema(cur, self._database_of(cur))
        with self._cursor() as cur:
            return catalog.schema(cur, self.server.database)

    def integrity_problems(self, *, quick: bool = False, tables: Collection[str] | None = None,
                           progress: TableProgress = None, connection: Any = None) -> list[str]:
        """CHECK TABLE (QUICK when ``quick``) on every table, or on ``tables``."""
        if connection is not None:
            with connection.cursor() as cur:
                return catalog.integrity_problems(cur, self._database_of(cur), quick=quick,
                                                  only=tables, progress=progress)
        with self._cursor() as cur:
            return catalog.integrity_problems(cur, self.server.database, quick=quick,
                                              only=tables, progress=progress)

    def preflight(self) -> None:
        """Refuse an unreachable server, missing or older client tools, and tables no
        consistent dump can freeze, before anything is written."""
        refuse_blocked(self)

    def snapshot_blockers(self) -> list[str]:
        """Tables no consistent dump can freeze; the dump and client tools missing or
        older than the server."""
        with self._cursor() as cur:
            version = catalog.rows(cur, "SELECT VERSION()")[0][0]
            not_innodb = refusals(lambda: dump.refuse_not_innodb(cur, self.server))
        return not_innodb + refusals(lambda: self.tools.require("dump", server=version),
                                     lambda: self.tools.require("client", server=version))

    def restore_blockers(self) -> list[str]:
        """None known before trying: the load needs the privileges the dump needed."""
        return []

    def users(self) -> list[str]:
        """None: the swap is one RENAME TABLE, which waits for other sessions' locks."""
        return []

    def session_lock(self, timeout: float) -> ContextManager[None]:
        return named_lock(self.server, timeout=timeout)

    def client_environ(self) -> Mapping[str, str]:
        return {}

    def limit_statement_time(self, connection: Any, seconds: float) -> None:
        """MariaDB: max_statement_time (every statement); MySQL: max_execution_time
        (SELECTs only, the only bound it has)."""
        if not seconds:
            return
        import sqlalchemy as sa

        version = connection.execute(sa.text("SELECT VERSION()")).scalar() or ""
        if "mariadb" in version.lower():
            connection.execute(sa.text(f"SET SESSION max_statement_time = {float(seconds)}"))
        else:
            connection.execute(sa.text(f"SET SESSION max_execution_time = {int(seconds * 1000)}"))

    def session_of(self, dbapi_connection: Any) -> int | None:
        """The server's connection id (PyMySQL, mysqlclient: thread_id())."""
        thread_id = getattr(dbapi_connection, "thread_id", None)
        if callable(thread_id):
            return int(thread_id())
        return int(thread_id) if thread_id else None

    def end_sessions(self, sessions: Sequence[int]) -> None:
        with errors_as(RestoreError, f"cannot end the stopped migration's sessions on {self.identity()}"):
            with self.server.connect(None) as conn, conn.cursor() as cur:
                for session in sessions:
                    try:
                        cur.execute(f"KILL CONNECTION {int(session)}")
                    except pymysql.err.OperationalError:
                        pass  # already gone

    def cancel(self, dbapi_connection: Any) -> None:
        session = self.session_of(dbapi_connection)
        if session is None:
            return
        with errors_as(RestoreError, f"cannot cancel the interrupted statement on {self.identity()}"):
            with self.server.connect(None) as conn, conn.cursor() as cur:
                try:
                    cur.execute(f"KILL QUERY {int(session)}")
                except pymysql.err.OperationalError:
                    pass

    # -- snapshot ----------------------------------------------------------------

    def snapshot(self, directory: Path, *, progress: Progress = None) -> Payload:
        return dump.snapshot(self.server, self.tools, directory, compression=self.compression,
                             level=self.compression_level, progress=progress)

    def verify_payload(self, directory: Path, snapshot: Snapshot, *,
                       progress: Progress = None) -> list[str]:
        """Load the dump into a scratch database, compare its row counts, drop it."""
        scratch = names.verify(snapshot.extra.get("database") or self.server.database)
        try:
            dump.load(self.server, self.tools, directory, snapshot, scratch)
        except RestoreError as exc:
            return [f"the dump does not restore: {exc}"]
        try:
            with self._cursor(None) as cur:
                counts = catalog.row_counts(cur, scratch)
        finally:
            dump.drop_quietly(self.server, scratch)
        return count_mismatches(snapshot.row_counts, counts)

    def local_files(self) -> Sequence[Path]:
        """None: the database lives on the server."""
        return ()

    def discard(self, directory: Path, snapshot: Snapshot) -> None:
        """Nothing outside the snapshot directory."""

    # -- restore -----------------------------------------------------------------

    def restore(self, directory: Path, snapshot: Snapshot, *,
                progress: Progress = None, swapping: Callable[[], None] = lambda: None) -> Mapping[str, int]:
        """Load the snapshot beside the live database, prove it, and swap it in with
        one RENAME TABLE (see swap.py)."""
        live = self.server.database
        staging = names.restoring(live)
        what = f"cannot restore {self.identity()}"
        with errors_as(RestoreError, what):
            conn = self.server.connect(None)
        with conn, conn.cursor() as cur:
            with errors_as(RestoreError, what):
                swap.finish_interrupted(cur, live)
                try:
                    with interruption.stoppable():
                        # Triggers cannot move with their tables; events must not fire
                        # in the copy (they are recreated in the live database).
                        counts, loaded = dump.load_inert(self.server, self.tools, cur, directory,
                                                         snapshot, staging, progress=progress)
                    with interruption.finishing("the restore"):
                        swap.swap_in(cur, live, staging, loaded, swapping,
                                     waited=self.server.lock_wait_timeout)
                except BaseException:
                    if not _swap_began(cur, live):
                        dump.drop_quietly(self.server, staging)
                    raise
        return counts

    def recover(self, runners: Sequence[int] = (), sessions: Sequence[int] = ()) -> str | None:
        """End the ``sessions`` a crashed run's migration left running (see
        sessions.py), then clean up after a restore a crash interrupted (see swap.py)."""
        with errors_as(RestoreError, f"cannot recover {self.identity()}"):
            with self.server.connect(None) as conn, conn.cursor() as cur:
                done = [mysql_sessions.end_orphans(cur, sessions, user=self.server.user or "",
                                                   database=self.server.database,
                                                   timeout=self.server.lock_wait_timeout or 30.0),
                        swap.finish_interrupted(cur, self.server.database)]
        return "; ".join(d for d in done if d) or None

    # -- rehearsal copies ----------------------------------------------------------

    def rehearsal_url(self, workdir: Path, token: str) -> URL:
        return self.url.set(database=names.rehearsal(self.server.database, token))

    def make_rehearsal_copy(self, workdir: Path, token: str, *,
                            snapshot: tuple[Path, Snapshot] | None = None,
                            progress: Progress = None) -> int:
        """Load a fresh dump (through ``workdir``, emptied afterwards) or the snapshot
        into ``D__sg_rehearse_TOKEN``; its size in bytes."""
        target = names.rehearsal(self.server.database, token)
        fresh = snapshot is None
        durable.make_dir(workdir)
        try:
            if snapshot is None:
                payload = self.snapshot(workdir, progress=progress)
                snapshot = (workdir, Snapshot(
                    id=f"a fresh dump of {self.identity()}", created_at="", reason="rehearsal",
                    engine=self.engine, database=self.identity(), revisions=(),
                    size=payload.size, sha256="", files=dict(payload.files),
                    row_counts=dict(payload.row_counts), extra=dict(payload.extra),
                    compression=payload.compression))
            directory, manifest = snapshot
            try:
                dump.load(self.server, self.tools, directory, manifest, target)
            except RestoreError as exc:
                raise SnapshotError(f"cannot copy {self.identity()} to {target}: {exc}") from exc
            with self._cursor(None) as cur:
                return max(catalog.size(cur, target), 1)
        finally:
            if fresh:
                for entry in workdir.iterdir() if workdir.is_dir() else ():
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()

    def drop_rehearsal_copy(self, workdir: Path, token: str) -> bool:
        target = names.rehearsal(self.server.database, token)
        with errors_as(RefusedError, f"cannot drop the rehearsal copy {target}"):
            with self._cursor(None) as cur:
                existed = catalog.exists(cur, target)
                cur.execute(f"DROP DATABASE IF EXISTS {quote(target)}")
        existed = existed or workdir.exists()
        shutil.rmtree(workdir, ignore_errors=True)
        return existed

    def rehearsal_tokens(self) -> list[str]:
        prefix = names.rehearsal_prefix(self.server.database)
        with errors_as(RefusedError, f"cannot reach {self.identity()}"):
            with self._cursor(None) as cur:
                found = catalog.rows(cur, "SELECT schema_name FROM information_schema.schemata")
        return sorted(name[len(prefix):] for (name,) in found
                      if name.startswith(prefix) and len(name) == len(prefix) + names.TOKEN_LENGTH)

    def lock_watch(self) -> ContextManager[Any]:
        """None: MySQL's metadata locks are not sampled (yet)."""
        return nullcontext(None)

    # -- helpers -----------------------------------------------------------------

    def _database_of(self, cur: Any) -> str:
        cur.execute("SELECT DATABASE()")
        return cur.fetchone()[0] or self.server.database

    @contextmanager
    def _cursor(self, database: str | None = "") -> Iterator[Any]:
        with errors_as(RefusedError, f"cannot connect to {self.identity()}"):
            conn = self.server.connect(database)
        with conn, conn.cursor() as cur:
            with errors_as(RefusedError, f"cannot read {self.identity()}"):
                yield cur


def _swap_began(cur: Any, live: str) -> bool:
    """Whether the live database may have been touched (the old database exists)."""
    try:
        return catalog.exists(cur, names.old(live))
    except pymysql.Error:
        return True
