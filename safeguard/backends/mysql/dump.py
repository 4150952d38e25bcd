"""Snapshots by mariadb-dump (mysqldump), loads by mariadb (mysql).

Consistency: ``--single-transaction`` dumps InnoDB tables as one consistent snapshot
while the application keeps writing. The manifest's row counts must describe the
same instant, and a dump's transaction cannot be shared. So safeguard holds
``LOCK TABLES ... READ`` on every table of the database (writes to them wait, reads
go on; other databases on the server are not concerned) while it counts every table
and until the dump's first table definition arrives on the pipe: by then the dump
has opened its snapshot (mariadb-dump starts its transaction before it reads any
table), and nothing was written between the counts and that snapshot. The lock waits
at most ``table_lock_timeout`` seconds (Server.lock_wait_timeout) for a statement
holding a table; the writes it holds wait for the counts (seconds on large tables),
never for the dump. A table created while
the lock is held would be in the dump but not in the counts: the restore then
refuses the snapshot (its counts disagree) rather than trust it.
Non-InnoDB tables, which no transaction freezes, are refused (catalog.not_innodb).

The dump's bytes are streamed from the tool's stdout into the snapshot directory,
through zstd when ``compression = zstd`` (as SQLite's payloads), and hashed on the way.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO, Any, Callable

import pymysql

from ... import digest
from ...durable import CHUNK, FILE_MODE, Progress
from ...errors import RefusedError, RestoreError, SnapshotError
from ...manifest import Payload, Snapshot
from .. import count_mismatches
from . import catalog, tools
from .server import Server, describe, errors_as, quote
from .tools import ClientTools

PLAIN, PACKED = "database.sql", "database.sql.zst"
#: Appears on the pipe once the dump reads its first table, inside its transaction.
FIRST_TABLE = b"CREATE TABLE"


def refuse_not_innodb(cur: Any, server: Server) -> None:
    found = catalog.not_innodb(cur, server.database)
    if found:
        listed = ", ".join(f"{t} ({e})" for t, e in found[:5]) + (" ..." if len(found) > 5 else "")
        raise RefusedError(f"{server.identity()} has tables no consistent snapshot can freeze: "
                           f"{listed}; convert them to InnoDB (ALTER TABLE ... ENGINE=InnoDB)")


def snapshot(server: Server, tools_: ClientTools, directory: Path, *, compression: str,
             level: int = 3, progress: Progress = None) -> Payload:
    """Dump ``server.database`` into ``directory``; the counts of the same instant."""
    identity = server.identity()
    with errors_as(SnapshotError, f"cannot snapshot {identity}"):
        conn = server.connect()
    with conn, conn.cursor() as cur:
        with errors_as(SnapshotError, f"cannot snapshot {identity}"):
            version = catalog.rows(cur, "SELECT VERSION()")[0][0]
            dump = tools_.require("dump", server=version)
            refuse_not_innodb(cur, server)
            charset, collation = catalog.rows(
                cur, "SELECT default_character_set_name, default_collation_name "
                     "FROM information_schema.schemata WHERE schema_name = %s", server.database)[0]
            size = catalog.size(cur, server.database)
            names = catalog.tables(cur, server.database)
            if names:
                try:
                    cur.execute("LOCK TABLES " + ", ".join(
                        f"{quote(server.database)}.{quote(t)} READ" for t in names))
                except pymysql.Error as exc:
                    raise SnapshotError(
                        f"cannot snapshot {identity}: LOCK TABLES ... READ failed "
                        f"({describe(exc)}); the row counts and the dump must describe one "
                        "instant (the user needs the LOCK TABLES privilege, and a migration "
                        f"holding a table may not outlast table_lock_timeout, "
                        f"{server.lock_wait_timeout:g}s)") from exc
            locked = bool(names)
            counter = _Counter(server)
            try:
                refuse_not_innodb(cur, server)  # a table may have changed engine meanwhile
                # Counted on a connection of its own while the dump starts: the table
                # lock holds every writer off both, so they see the same rows.
                counter.start()
                target = directory / (PACKED if compression == "zstd" else PLAIN)
                writer = _Writer(target, packed=compression == "zstd", level=level,
                                 progress=progress)

                def take(chunk: bytes) -> None:
                    nonlocal locked
                    writer.write(chunk)
                    if locked and counter.done.is_set() and FIRST_TABLE in writer.head:
                        cur.execute("UNLOCK TABLES")
                        locked = False

                with server.option_file() as (options, env), writer:
                    argv = [dump.path, f"--defaults-extra-file={options}", "--single-transaction",
                            "--routines", "--triggers", "--events", "--hex-blob",
                            "--default-character-set=utf8mb4", "--skip-dump-date",
                            "--", server.database]
                    tools.run(argv, env=env, error=SnapshotError, what=f"{dump.label} of {identity}",
                              stdout=take)
            finally:
                if counter.ident is not None:  # started: the counts are of the lock's time
                    counter.join()
                if locked:
                    cur.execute("UNLOCK TABLES")
            counts = counter.result()
    return Payload(
        files={target.name: writer.digest}, size=target.stat().st_size, row_counts=counts,
        compression="zstd" if compression == "zstd" else None,
        content_sha256=writer.content_sha256,
        extra={"format": target.name, "database": server.database, "server_version": version,
               "dump_tool": dump.label, "charset": charset, "collation": collation,
               "database_size": size})


class _Counter(threading.Thread):
    """Counts every table's rows on a connection of its own."""

    def __init__(self, server: Server) -> None:
        super().__init__(name="safeguard-mysql-count", daemon=True)
        self.server = server
        self.done = threading.Event()
        self.counts: dict[str, int] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.server.connect() as conn, conn.cursor() as cur:
                self.counts = catalog.row_counts(cur, self.server.database)
        except BaseException as exc:  # noqa: BLE001 - handed to the snapshotting thread
            self.error = exc
        finally:
            self.done.set()

    def result(self) -> dict[str, int]:
        if self.error is not None:
            raise SnapshotError(f"cannot count the rows of {self.server.identity()}: "
                                f"{describe(self.error)}") from self.error
        return self.counts


class _Writer:
    """The payload file, written as the dump streams in: compressed or not, hashed."""

    def __init__(self, target: Path, *, packed: bool, level: int, progress: Progress) -> None:
        import hashlib
        import os

        self.target = target
        self.head = b""
        self.progress = progress
        self._hash = digest._hasher(digest.DEFAULT)
        self._content = hashlib.sha256() if packed else None
        self._compressor = None
        if packed:
            from ...compression import _zstd

            self._compressor = _zstd().ZstdCompressor(level=level, write_checksum=True).compressobj()
        self._out = open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb")
        self.digest = ""
        self.content_sha256: str | None = None

    def __enter__(self) -> "_Writer":
        return self

    def write(self, chunk: bytes) -> None:
        if len(self.head) < 1 << 16:
            self.head += chunk[: (1 << 16) - len(self.head)]
        if self._content is not None:
            self._content.update(chunk)
        self._emit(self._compressor.compress(chunk) if self._compressor else chunk)
        if self.progress:
            self.progress(len(chunk))

    def _emit(self, data: bytes) -> None:
        if data:
            self._hash.update(data)
            self._out.write(data)

    def __exit__(self, *exc: Any) -> None:
        import os

        try:
            if self._compressor is not None:
                self._emit(self._compressor.flush())
            self._out.flush()
            os.fsync(self._out.fileno())
        finally:
            self._out.close()
        self.digest = digest.tagged(digest.DEFAULT, self._hash.hexdigest())
        self.content_sha256 = self._content.hexdigest() if self._content else None


def payload_path(directory: Path, snapshot: Snapshot) -> Path:
    name = snapshot.extra.get("format")
    if name not in (PLAIN, PACKED) or name not in snapshot.files:
        raise RestoreError(f"snapshot {snapshot.id} has no mariadb-dump payload (format {name!r})")
    return directory / name


def load(server: Server, tools_: ClientTools, directory: Path, snapshot: Snapshot,
         target: str, *, progress: Progress = None) -> None:
    """Create the database ``target`` and load the dump into it, proving the payload's
    digest on the way through: a damaged payload fails the load (RestoreError), and
    ``target`` is then dropped."""
    path = payload_path(directory, snapshot)
    expected = snapshot.files[path.name]
    client = tools_.get("client")
    charset = snapshot.extra.get("charset") or "utf8mb4"
    collation = snapshot.extra.get("collation")
    with errors_as(RestoreError, f"cannot create the database {target}"):
        with server.connect(None) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {quote(target)}")
            cur.execute(f"CREATE DATABASE {quote(target)} CHARACTER SET {charset}"
                        + (f" COLLATE {collation}" if collation else ""))
    hasher = digest._hasher(digest.algorithm_of(expected))

    def feed(stdin: IO[bytes]) -> None:
        with open(path, "rb") as raw:
            source: Callable[[], bytes]
            if path.name == PACKED:
                from ...compression import _zstd

                reader = _zstd().ZstdDecompressor().stream_reader(_Hashing(raw, hasher))
                source = lambda: reader.read(CHUNK)  # noqa: E731
            else:
                source = lambda: _Hashing(raw, hasher).read(CHUNK)  # noqa: E731
            while True:
                try:
                    chunk = source()
                except (OSError, ValueError) as exc:  # zstd's errors are ValueErrors too
                    raise RestoreError(f"snapshot {snapshot.id}: {path.name} cannot be read "
                                       f"(damaged): {exc}") from exc
                except Exception as exc:  # noqa: BLE001 - zstandard.ZstdError
                    raise RestoreError(f"snapshot {snapshot.id}: {path.name} cannot be read "
                                       f"(damaged): {exc}") from exc
                if not chunk:
                    break
                stdin.write(chunk)
                if progress:
                    progress(len(chunk))

    try:
        with server.option_file() as (options, env):
            argv = [client.path, f"--defaults-extra-file={options}", "--binary-mode",
                    "--default-character-set=utf8mb4", f"--database={target}"]
            try:
                tools.run(argv, env=env, error=RestoreError, what=f"loading the dump into {target}",
                          stdin=feed)
            except RestoreError:
                if digest.tagged(digest.algorithm_of(expected), hasher.hexdigest()) != expected:
                    raise RestoreError(f"snapshot {snapshot.id}: {path.name} does not match its "
                                       "digest (damaged); nothing was changed") from None
                raise
        if digest.tagged(digest.algorithm_of(expected), hasher.hexdigest()) != expected:
            raise RestoreError(f"snapshot {snapshot.id}: {path.name} does not match its digest "
                               "(damaged); nothing was changed")
    except BaseException:
        drop_quietly(server, target)
        raise


def load_inert(server: Server, tools_: ClientTools, cur: Any, directory: Path, snapshot: Snapshot,
               target: str, *, progress: Progress = None) -> tuple[dict[str, int], list[Any]]:
    """`load`, then prove the row counts against the manifest and drop the copy's
    triggers and events (none may fire or write in a copy); the counts, and every
    view, trigger, routine and event the dump held (catalog.objects)."""
    load(server, tools_, directory, snapshot, target, progress=progress)
    counts = catalog.row_counts(cur, target)
    problems = count_mismatches(snapshot.row_counts, counts)
    if problems:
        raise RestoreError(f"snapshot {snapshot.id} does not match its manifest: "
                           f"{'; '.join(problems[:3])}")
    loaded = catalog.objects(cur, target)
    catalog.drop_objects(cur, target, [o for o in loaded if o.kind in ("TRIGGER", "EVENT")])
    return counts, loaded


class _Hashing:
    def __init__(self, raw: IO[bytes], hasher: Any) -> None:
        self.raw, self.hasher = raw, hasher

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hasher.update(data)
        return data


def drop_quietly(server: Server, database: str) -> None:
    try:
        with server.connect(None) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {quote(database)}")
    except Exception:  # noqa: BLE001 - the caller's error is the one to report
        pass
