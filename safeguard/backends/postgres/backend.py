"""PostgresBackend: one PostgreSQL database behind the Backend protocol."""

from __future__ import annotations

import shutil
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, ContextManager, Iterator, Mapping, Sequence

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import URL

from ... import durable, interruption
from ...durable import Progress
from ...errors import ConfigError, RefusedError, RestoreError, SnapshotError
from ...footprint import Schema
from ...manifest import Payload, Snapshot
from .. import TableProgress, refusals, refuse_blocked
from . import catalog, databases, kept, names, swap
from .advisory import advisory_lock
from .dump import DumpStrategy
from .kept import KeptStrategy
from .lockwatch import LockWatch
from .options import Options
from .server import APPLICATION_NAME, Server, describe, errors_as
from .strategy import Strategy
from .template import TemplateStrategy
from .tools import ClientTools

if TYPE_CHECKING:
    from ...config import Settings

STRATEGIES: dict[str, type] = {"dump": DumpStrategy, "template": TemplateStrategy,
                               "kept": KeptStrategy}


class PostgresBackend:
    """A PostgreSQL database. Constructing one never connects (it also validates URLs)."""

    engine = "postgresql"
    #: pg_restore reads the dump as it is; the store re-hashes it first.
    proves_payload_on_restore = False
    #: pg_restore rebuilds every index and constraint; the catalog checks are cheap.
    restore_proof: str | None = None

    def __init__(self, url: URL, settings: "Settings | None" = None) -> None:
        self.url = url
        self.server = Server.from_url(url)
        self.options = Options.from_settings(settings)
        self.tools = ClientTools(self.options.bindir)

    # -- facts -------------------------------------------------------------------

    def identity(self) -> str:
        """``host:port/dbname``; never the user's password."""
        return self.server.identity()

    def exists(self) -> bool:
        """Whether the database exists on the server."""
        with errors_as(RefusedError, f"cannot reach {self.identity()}"):
            with closing(self.server.connect_maintenance()) as conn:
                return databases.exists(conn, self.server.database)

    def size(self) -> int:
        """``pg_database_size``, in bytes."""
        with self._connection() as conn:
            return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]

    def row_counts(self, tables: Collection[str] | None = None, *,
                   connection: psycopg.Connection | None = None) -> dict[str, int]:
        """Exact rows per table of every non-system schema (``table`` in public,
        ``schema.table`` elsewhere; of ``tables`` only, when given), counted in one
        snapshot; on ``connection``, as that connection's open transaction sees them."""
        if connection is not None:
            return catalog.row_counts(connection, tables)
        with self._connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return catalog.row_counts(conn, tables)
            finally:
                conn.execute("ROLLBACK")

    def schema(self, *, connection: psycopg.Connection | None = None) -> Schema:
        """Each table's definition, foreign keys and triggers, from the catalogs (on
        ``connection``: as its open transaction sees them)."""
        if connection is not None:
            return catalog.schema(connection)
        with self._connection() as conn:
            return catalog.schema(conn)

    def integrity_problems(self, *, quick: bool = False, tables: Collection[str] | None = None,
                           progress: TableProgress = None,
                           connection: psycopg.Connection | None = None) -> list[str]:
        """NOT VALID constraints, invalid indexes, an unreadable catalog; unless
        ``quick``, unreadable tables (and damaged B-trees where amcheck is installed);
        of ``tables`` only, when given. On ``connection``: as its open transaction sees
        them."""
        if connection is not None:
            return catalog.integrity_problems(connection, quick=quick, only=tables,
                                              progress=progress)
        with self._connection() as conn:
            return catalog.integrity_problems(conn, quick=quick, only=tables, progress=progress)

    def session_lock(self, timeout: float) -> ContextManager[None]:
        """The advisory lock of this database, held for the whole guarded operation."""
        return advisory_lock(self.server, timeout=timeout)

    def client_environ(self) -> Mapping[str, str]:
        """The project's env.py connects through libpq too: under this process's name
        (not one inherited from a parent), a migration statement the server goes on
        running after a crash can be found, and ended, by `recover`."""
        return {"PGAPPNAME": APPLICATION_NAME}

    def limit_statement_time(self, connection: Any, seconds: float) -> None:
        """SET statement_timeout on ``connection`` (a SQLAlchemy Connection)."""
        if seconds:
            connection.execute(sa.text(f"SET statement_timeout = {int(seconds * 1000)}"))

    def session_of(self, dbapi_connection: Any) -> int | None:
        """The backend pid of a psycopg (3 or 2) connection; None for other drivers."""
        info = getattr(dbapi_connection, "info", None)
        pid = getattr(info, "backend_pid", None)  # psycopg 3
        if pid is None and hasattr(dbapi_connection, "get_backend_pid"):
            pid = dbapi_connection.get_backend_pid()  # psycopg2
        return int(pid) if pid else None

    def end_sessions(self, sessions: Sequence[int]) -> None:
        """Terminate the given backends and wait (up to 10 s) until they are gone: a
        stopped migration's session must not hold its locks into the restore."""
        with errors_as(RestoreError, f"cannot end the stopped migration's sessions on {self.identity()}"):
            with closing(self.server.connect_maintenance()) as conn:
                swap.terminate(conn, list(sessions), timeout=self.options.sessions.timeout)

    def cancel(self, dbapi_connection: Any) -> None:
        """``pg_cancel_backend`` of the connection's own session, from a connection of
        our own (any driver whose backend pid is known; psycopg 3 also cancels by itself
        on KeyboardInterrupt): the statement ends with "canceling statement due to user
        request" and the migration fails where it stands."""
        session = self.session_of(dbapi_connection)
        if session is None:
            return
        with errors_as(RestoreError, f"cannot cancel the interrupted statement on {self.identity()}"):
            with closing(self.server.connect_maintenance()) as conn:
                conn.execute("SELECT pg_cancel_backend(%s)", (session,))

    def preflight(self) -> None:
        """Refuse now, before anything is written, what would make a snapshot fail:
        an unreachable server, a missing pg_dump/pg_restore, or one older than the server;
        and what would make the restore that undoes a failed run impossible (see
        databases.restore_blockers)."""
        refuse_blocked(self)

    def snapshot_blockers(self) -> list[str]:
        """pg_dump and pg_restore missing, or older than the server (the template
        strategy needs neither)."""
        if self.options.strategy == "template":
            return []
        with self._connection() as conn:
            major = databases.server_major(conn)
            version = databases.server_version(conn)
        return refusals(*(lambda tool=tool: self.tools.require(tool, server_major=major,
                                                               server_version=version)
                          for tool in ("pg_dump", "pg_restore")))

    def restore_blockers(self) -> list[str]:
        """What keeps this role from restoring the database (databases.restore_blockers)."""
        with self._connection() as conn:
            return databases.restore_blockers(conn)

    def users(self) -> list[str]:
        """None: the restore's swap deals with other sessions (pg_sessions)."""
        return []

    # -- snapshot ----------------------------------------------------------------

    def snapshot(self, directory: Path, *, progress: Progress = None) -> Payload:
        """A consistent snapshot by the configured strategy (pg_strategy)."""
        return self._strategy(self.options.strategy).snapshot(directory, progress=progress)

    def verify_payload(self, directory: Path, snapshot: Snapshot, *,
                       progress: Progress = None) -> list[str]:
        """Read the snapshot back as a database (dump: a scratch restore) and compare
        its row counts with the manifest's."""
        return self._strategy_of(snapshot).verify(directory, snapshot)

    def local_files(self) -> Sequence[Path]:
        """None: the database lives on the server."""
        return ()

    def discard(self, directory: Path, snapshot: Snapshot) -> None:
        """Release what a snapshot holds outside its directory (a template copy)."""
        self._strategy_of(snapshot).discard(directory, snapshot)

    # -- restore -----------------------------------------------------------------

    def restore(self, directory: Path, snapshot: Snapshot, *,
                progress: Progress = None, swapping: Callable[[], None] = lambda: None,
                keep_replaced: bool = False) -> None:
        """Rebuild the snapshot beside the live database, then swap it in by rename
        (see swap.py): what the failed migration created is dropped with the old
        database, and the live one is untouched until the copy is complete. With
        ``keep_replaced``, the old database is left as ``D.sg-old`` for
        `keep_replaced` to make the restore's safety snapshot."""
        strategy = self._strategy_of(snapshot)
        live = self.server.database
        staging, ready = names.restoring(live), names.ready(live)
        with errors_as(RestoreError, f"cannot restore {self.identity()}"):
            conn = self.server.connect_maintenance()
        with closing(conn):
            with errors_as(RestoreError, f"cannot restore {self.identity()}"):
                swap.finish_interrupted(conn, live)
                try:
                    # Until the swap, a signal may stop the restore (interruption.py):
                    # the copies are dropped and the live database is as it was.
                    with interruption.stoppable():
                        strategy.materialize(conn, directory, snapshot, staging, progress=progress)
                        databases.apply_properties(conn, staging, _properties(snapshot, conn, live))
                        databases.rename(conn, staging, ready)
                    with interruption.finishing("the restore"):
                        swap.swap_in(conn, live, ready, self.options.sessions, swapping,
                                     keep_old=keep_replaced)
                except BaseException:
                    _abandon(conn, live, staging, ready)
                    raise

    def can_keep_replaced(self) -> bool:
        """Whether a manual restore can keep the database it replaces as its safety
        snapshot (kept.py) rather than dump it first: renaming a database needs
        CREATEDB (or superuser), as the restore itself does."""
        with self._connection() as conn:
            return bool(conn.execute("SELECT rolsuper OR rolcreatedb FROM pg_roles "
                                     "WHERE rolname = current_user").fetchone()[0])

    def keep_replaced(self, directory: Path, snapshot_id: str, progress: Progress = None) -> Payload:
        """The safety snapshot ``snapshot_id`` of a restore made with ``keep_replaced``:
        the database its swap set aside, kept on the server (see kept.py)."""
        return kept.keep(self.server, directory, snapshot_id, progress=progress)

    def on_server(self) -> list[Snapshot]:
        """The kept databases of this database, found on the server by their own
        marker (kept.on_server), whether or not the store holds their manifests."""
        return kept.on_server(self.server)

    def drop_on_server(self, snapshot: Snapshot) -> None:
        """Drop a kept database `on_server` found (its marker naming ``snapshot``)."""
        kept.drop_on_server(self.server, snapshot)

    def discard_partial(self, directory: Path) -> str | None:
        """Drop what a snapshot left without a manifest by a crash holds outside its
        directory (a kept database); what was done, or None."""
        return kept.discard_partial(self.server, directory)

    def recover(self, runners: Sequence[int] = (), sessions: Sequence[int] = ()) -> str | None:
        """End what the crashed processes ``runners`` left running on the server (found
        by their application name, which covers ``sessions`` too), then finish or undo
        a restore they interrupted (see swap.py); what was done, or None if there was
        nothing to do."""
        with errors_as(RestoreError, f"cannot recover {self.identity()}"):
            with closing(self.server.connect_maintenance()) as conn:
                done = [swap.end_orphans(conn, runners, timeout=self.options.sessions.timeout),
                        swap.finish_interrupted(conn, self.server.database)]
        return "; ".join(d for d in done if d) or None

    # -- rehearsal copies ----------------------------------------------------------

    def rehearsal_url(self, workdir: Path, token: str) -> URL:
        """Where rehearsal ``token``'s copy lives: the database ``D.sg-rehearse-TOKEN``
        beside this one, reached as this one is (same server, user, options)."""
        return self.url.set(database=names.rehearsal(self.server.database, token))

    def make_rehearsal_copy(self, workdir: Path, token: str, *,
                            snapshot: tuple[Path, Snapshot] | None = None,
                            progress: Progress = None) -> int:
        """Create the rehearsal copy from a fresh pg_dump (through ``workdir``, emptied
        afterwards) or from the snapshot in ``snapshot`` (its directory and manifest),
        restored the way `snapshot verify` restores into a scratch database, with the
        live database's owner, privileges and settings; its size in bytes. The live
        database is only read (pg_dump); its sessions are never touched: the
        template strategy, which needs the database to itself, is not used here."""
        target = names.rehearsal(self.server.database, token)
        fresh = snapshot is None
        durable.make_dir(workdir)
        try:
            if snapshot is None:
                payload = DumpStrategy(self.server, self.tools, self.options).snapshot(
                    workdir, progress=progress)
                snapshot = (workdir, Snapshot(
                    id=f"a fresh dump of {self.identity()}", created_at="", reason="rehearsal",
                    engine=self.engine, database=self.identity(), revisions=(),
                    size=payload.size, sha256="", files=dict(payload.files),
                    row_counts=dict(payload.row_counts), extra=dict(payload.extra)))
            directory, manifest = snapshot
            with errors_as(SnapshotError, f"cannot copy {self.identity()} to {target}"):
                with closing(self.server.connect_maintenance()) as conn:
                    try:
                        self._strategy_of(manifest).materialize(conn, directory, manifest, target)
                    except RestoreError as exc:
                        raise SnapshotError(f"cannot copy {self.identity()} to {target}: {exc}") from exc
                    databases.apply_properties(conn, target, _properties(manifest, conn, self.server.database))
                    return conn.execute("SELECT pg_database_size(%s)", (target,)).fetchone()[0]
        finally:
            if fresh:  # the dump has done its work; the copy is on the server
                for entry in workdir.iterdir() if workdir.is_dir() else ():
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()

    def drop_rehearsal_copy(self, workdir: Path, token: str) -> bool:
        """Drop the copy (ending any session on it) and ``workdir``; False if neither
        was there."""
        target = names.rehearsal(self.server.database, token)
        with errors_as(RefusedError, f"cannot drop the rehearsal copy {target}"):
            with closing(self.server.connect_maintenance()) as conn:
                existed = databases.exists(conn, target)
                databases.drop(conn, target)
        existed = existed or workdir.exists()
        shutil.rmtree(workdir, ignore_errors=True)
        return existed

    def rehearsal_tokens(self) -> list[str]:
        """The tokens of every rehearsal copy of this database on the server."""
        with errors_as(RefusedError, f"cannot reach {self.identity()}"):
            with closing(self.server.connect_maintenance()) as conn:
                rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                    (names.rehearsal_pattern(self.server.database),)).fetchall()
        return sorted(row[0][-names.TOKEN_LENGTH:] for row in rows)

    @contextmanager
    def lock_watch(self) -> Iterator[LockWatch]:
        """Sample the ACCESS EXCLUSIVE locks taken on this database while the body runs
        (see lockwatch.py)."""
        watch = LockWatch(self.server)
        watch.start()
        try:
            yield watch
        finally:
            watch.stop()

    # -- helpers -----------------------------------------------------------------

    def _strategy(self, name: str) -> Strategy:
        try:
            cls = STRATEGIES[name]
        except KeyError:
            raise ConfigError(f"unknown pg_strategy {name!r} (dump or template)") from None
        return cls(self.server, self.tools, self.options)

    def _strategy_of(self, snapshot: Snapshot) -> Strategy:
        """The strategy that took the snapshot, whatever the settings say now."""
        name = snapshot.extra.get("strategy")
        if name not in STRATEGIES:
            raise RestoreError(f"snapshot {snapshot.id} does not say how it was taken "
                               f"(extra.strategy = {name!r})")
        return self._strategy(name)

    def _connection(self) -> ContextManager[psycopg.Connection]:
        """A connection to the database itself, with connection errors translated."""
        try:
            return closing(self.server.connect())
        except psycopg.Error as exc:
            raise RefusedError(f"cannot connect to {self.identity()}: {describe(exc)}") from exc


def _properties(snapshot: Snapshot, conn: psycopg.Connection,
                live: str) -> databases.DatabaseProperties:
    recorded = snapshot.extra.get("database_properties")
    if recorded:
        return databases.DatabaseProperties.from_dict(recorded)
    return databases.read_properties(conn, live)


def _abandon(conn: psycopg.Connection, live: str, staging: str, ready: str) -> None:
    """After a failed restore: drop the copies, but only while the live database still
    exists (if the swap stopped between its renames, the ready copy is the only
    complete database, and `recover` finishes the swap)."""
    try:
        if databases.exists(conn, live):
            databases.drop(conn, staging)
            databases.drop(conn, ready)
    except psycopg.Error:
        pass  # the restore's own error is the one to report; recover cleans up
