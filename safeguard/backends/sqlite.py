"""SQLite: a snapshot is a byte copy of the database file taken under SQLite's own
write lock; a restore is a verified copy renamed over the file.

Why a byte copy under the write lock: measured on a 1 GiB file it costs what `cp` costs
(0.87 s against 0.91 s), where the online backup API took 2.2 s and `VACUUM INTO` 2.7 s.
`BEGIN IMMEDIATE` takes the RESERVED lock, so no other connection can commit while the
bytes are read; readers carry on. In rollback-journal mode the main file then holds
exactly the last committed state. In WAL mode committed pages may still sit in the
`-wal` file, so the WAL is copied too and folded into the copy by a checkpoint on the
copy; the live database's WAL is never reset while the lock is held, so the pair is
consistent even if another connection checkpoints meanwhile.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, ContextManager, Mapping, Sequence

from sqlalchemy.engine import URL

from .. import compression, digest, durable, faults
from ..durable import Progress
from ..errors import RefusedError, RestoreError, SnapshotError
from ..footprint import Schema
from . import Payload, TableProgress, count_mismatches

if TYPE_CHECKING:
    from ..config import Settings

PAYLOAD_NAME = "database.sqlite"
COMPRESSED_NAME = PAYLOAD_NAME + compression.SUFFIX
#: How long to wait for another connection's write transaction before giving up.
BUSY_TIMEOUT_S = 30.0
SIDE_FILES = ("-wal", "-shm", "-journal")
#: SQLite's result codes for a damaged file (sqlite3.h).
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26


class SQLiteBackend:
    """A SQLite database file."""

    engine = "sqlite"
    proves_payload_on_restore = True
    restore_proof = ("the restored file held the snapshot's exact bytes (its digest), which "
                     "passed quick_check when the snapshot was taken")

    def __init__(self, url: URL, settings: "Settings | None" = None) -> None:
        database = url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            raise RefusedError(
                f"cannot snapshot SQLite database {database or ':memory:'!r}: "
                "safeguard needs a database file path"
            )
        self.path = Path(database).resolve()
        # Another writer holding the database is waited for as long as another guarded
        # operation would be (lock_timeout).
        self.busy_timeout = settings.lock_timeout if settings else BUSY_TIMEOUT_S
        self.compression = settings.compression if settings else "none"
        self.compression_level = settings.compression_level if settings else 3

    # -- facts -------------------------------------------------------------------

    def identity(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.is_file()

    def size(self) -> int:
        return sum(_size(self.path.with_name(self.path.name + s)) for s in ("", "-wal"))

    def row_counts(self, tables: Collection[str] | None = None) -> dict[str, int]:
        with closing(self._connect()) as conn:
            return _row_counts(conn, tables)

    def schema(self) -> Schema:
        """Each table's definition with its indexes and triggers (sqlite_master), and
        its foreign keys: what the footprint of a run compares before and after."""
        with closing(self._connect()) as conn:
            return _schema(conn)

    def journal_mode(self) -> str:
        with closing(self._connect()) as conn:
            return conn.execute("PRAGMA journal_mode").fetchone()[0].lower()

    def integrity_problems(self, *, quick: bool = False, tables: Collection[str] | None = None,
                           progress: TableProgress = None) -> list[str]:
        with closing(self._connect()) as conn:
            return _integrity_problems(conn, quick=quick, tables=tables, progress=progress)

    def preflight(self) -> None:
        """Nothing to check beyond what opening the file already did."""

    def discard(self, directory: Path, manifest: Mapping[str, Any]) -> None:
        """Nothing outside the snapshot's directory."""

    def recover(self, runners: Sequence[int] = ()) -> str | None:
        """Nothing engine-level: a restore is one rename, finished or not, and no
        server runs anything on behalf of a crashed process."""
        return None

    def session_lock(self, timeout: float) -> ContextManager[None]:
        """Nothing beyond the store's file lock: SQLite has no server to hold one."""
        return nullcontext()

    def close(self) -> None:
        """Nothing to release: every connection here is opened and closed per call."""

    def session_of(self, dbapi_connection: Any) -> None:
        """None: SQLite has no server; a killed process's locks die with it."""
        return None

    def end_sessions(self, sessions: Sequence[int]) -> None:
        """Nothing to end (see session_of)."""

    # -- snapshot ----------------------------------------------------------------

    def snapshot(self, directory: Path, *, progress: Progress = None) -> Payload:
        target = directory / PAYLOAD_NAME
        wal_copy = target.with_name(target.name + "-wal")
        try:
            with closing(self._connect()) as conn:
                mode = conn.execute("PRAGMA journal_mode").fetchone()[0].lower()
                if mode == "wal":
                    # Best effort, never waiting for readers: what a checkpoint moves
                    # into the main file need not be folded into the copy later.
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # Reading rolls back any hot journal before the bytes are copied.
                    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                    # Only the copy happens under the lock; hashing and checking read
                    # the copy afterwards, while the application writes again.
                    durable.kernel_copy(self.path, target, progress=progress)
                    faults.point("sqlite:snapshot:copied")
                    live_wal = self.path.with_name(self.path.name + "-wal")
                    folded = mode == "wal" and _size(live_wal) > 0
                    if folded:
                        durable.kernel_copy(live_wal, wal_copy)
                finally:
                    conn.execute("ROLLBACK")
            if folded:
                with closing(sqlite3.connect(target, isolation_level=None)) as copy:
                    copy.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                durable.remove_quietly(wal_copy)
                durable.remove_quietly(target.with_name(target.name + "-shm"))
                durable.fsync_file(target)
        except sqlite3.Error as exc:
            raise SnapshotError(f"cannot copy {self.path}: {exc}") from exc
        except OSError as exc:
            raise SnapshotError(f"cannot copy {self.path}: {exc.strerror or exc}") from exc

        # A compressed payload records the sha256 of the bytes it decompresses to
        # (compression.py hashes them on the way through).
        algorithm = digest.SHA256 if self.compression == "zstd" else digest.DEFAULT
        copied, problems, counts = _examine(target, algorithm)
        if problems:
            raise SnapshotError(f"the copy of {self.path} fails quick_check: {problems[0]}")
        extra = {"journal_mode": mode, "sqlite_version": sqlite3.sqlite_version,
                 "wal_folded": folded}
        if self.compression == "zstd":
            return self._compressed(target, copied, counts, extra)
        return Payload(files={PAYLOAD_NAME: copied}, size=_size(target), row_counts=counts,
                       extra=extra)

    def _compressed(self, raw: Path, raw_sha256: str, counts: Mapping[str, int],
                    extra: Mapping[str, Any]) -> Payload:
        """Compress the verified copy, prove the result decompresses to the same bytes,
        and keep only the compressed file."""
        packed = raw.with_name(COMPRESSED_NAME)
        try:
            packed_sha256 = compression.compress(raw, packed, level=self.compression_level)
            if compression.decompress(packed, None) != raw_sha256:
                raise SnapshotError(f"the compressed copy of {self.path} does not decompress "
                                    "to the bytes copied")
        except (OSError, ValueError) as exc:
            raise SnapshotError(f"cannot compress the copy of {self.path}: {exc}") from exc
        raw.unlink()
        return Payload(files={COMPRESSED_NAME: packed_sha256}, size=_size(packed),
                       row_counts=counts, extra=extra, compression="zstd",
                       content_sha256=raw_sha256)

    def verify_payload(self, directory: Path, manifest: Mapping[str, Any], *,
                       progress: Progress = None) -> list[str]:
        """Restore the snapshot into a scratch file beside it, then check that file:
        a backup is not trusted until a restore of it worked."""
        scratch_dir = Path(tempfile.mkdtemp(prefix=".tmp-verify-", dir=directory.parent))
        scratch = scratch_dir / PAYLOAD_NAME
        try:
            # Checks the bytes, quick_check and the row counts against the manifest...
            _materialize(directory, manifest, scratch, progress=progress)
            # ...and then the full integrity_check, which only a verify has time for.
            with closing(sqlite3.connect(scratch, isolation_level=None)) as copy:
                return _integrity_problems(copy, quick=False)
        except (sqlite3.Error, RestoreError, OSError, ValueError) as exc:
            return [f"a test restore of the snapshot failed: {exc}"]
        finally:
            shutil.rmtree(scratch_dir, ignore_errors=True)

    # -- restore -----------------------------------------------------------------

    def restore(self, directory: Path, manifest: Mapping[str, Any], *,
                progress: Progress = None) -> Mapping[str, int]:
        staging = self.path.with_name(f".{self.path.name}.safeguard-restore")
        durable.remove_quietly(staging)
        try:
            # The live file is untouched until the staged copy is known to hold exactly
            # the bytes that were snapshotted (and quick_checked when they were).
            counts = _materialize(directory, manifest, staging, progress=progress,
                                  quick_check=False)
            # Side files belong to the old database: a stale -wal replayed onto the
            # restored file would corrupt it, so they go before the new file arrives.
            for suffix in SIDE_FILES:
                durable.remove_quietly(self.path.with_name(self.path.name + suffix))
            faults.point("sqlite:restore:before-swap")
            durable.replace(staging, self.path)
            faults.point("sqlite:restore:swapped")
            return counts
        except OSError as exc:
            durable.remove_quietly(staging)
            raise RestoreError(f"cannot restore {self.path}: {exc.strerror or exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise RefusedError(f"database file not found: {self.path}")
        return sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)


def _materialize(directory: Path, manifest: Mapping[str, Any], dst: Path, *,
                 progress: Progress = None, quick_check: bool = True) -> dict[str, int]:
    """Write the snapshot's database to ``dst`` (decompressing if needed) and prove it
    is the database the manifest describes: the digest of its bytes, the row counts
    (returned) and, with ``quick_check``, quick_check again; a restore leaves that out,
    one proof per byte: bytes matching the digest are the bytes that passed it when
    the snapshot was taken. ``dst`` is removed if any of it fails."""
    try:
        if manifest.get("compression") == "zstd":
            expected = manifest["content_sha256"]
            try:
                compression.decompress(directory / COMPRESSED_NAME, dst, progress=progress)
            except ValueError as exc:
                raise RestoreError(f"snapshot {manifest.get('id')}: {exc}") from exc
        else:
            expected = manifest["files"][PAYLOAD_NAME]
            durable.kernel_copy(directory / PAYLOAD_NAME, dst, progress=progress)
        actual, problems, counts = _examine(dst, digest.algorithm_of(expected), quick_check)
        if actual != expected:
            raise RestoreError(
                f"snapshot {manifest.get('id')} does not hold the bytes its manifest describes "
                f"({digest.short(actual)} != {digest.short(expected)}); nothing was restored")
        problems += count_mismatches(manifest.get("row_counts", {}), counts)
        if problems:
            raise RestoreError(f"snapshot {manifest.get('id')} does not verify: {problems[0]}; "
                               "nothing was restored")
        return counts
    except BaseException:
        durable.remove_quietly(dst)
        raise


def _examine(path: Path, algorithm: str,
             quick_check: bool = True) -> tuple[str, list[str], dict[str, int]]:
    """The digest, quick_check problems (unless not ``quick_check``) and row counts of
    a database file, the hash and the checks running side by side (the hashers and
    SQLite both release the GIL)."""
    def check() -> tuple[list[str], dict[str, int]]:
        with closing(_open_readonly(path)) as conn:
            problems = _integrity_problems(conn, quick=True) if quick_check else []
            return problems, _row_counts(conn)

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="examine") as pool:
        hashed = pool.submit(digest.of_file, path, algorithm=algorithm)
        checked = pool.submit(check)
        problems, counts = checked.result()
        return hashed.result(), problems, counts


def _open_readonly(path: Path) -> sqlite3.Connection:
    # immutable: a snapshot never changes, so no locks and no -shm file are needed.
    return sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True, isolation_level=None)


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )]


def _row_counts(conn: sqlite3.Connection, only: Collection[str] | None = None) -> dict[str, int]:
    tables = [t for t in _tables(conn) if only is None or t in only]
    return {t: conn.execute(f'SELECT count(*) FROM "{_quote(t)}"').fetchone()[0] for t in tables}


def _schema(conn: sqlite3.Connection) -> Schema:
    rows = conn.execute("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master "
                        "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").fetchall()
    parts: dict[str, list[str]] = {name: [sql] for kind, name, _, sql in rows if kind == "table"}
    by_lower = {name.lower(): name for name in parts}
    for kind, name, table, sql in rows:
        if kind in ("index", "trigger") and table in parts:
            parts[table].append(f"{kind} {name}: {sql}")
    references = {}
    for table in parts:
        parents = {by_lower.get(row[2].lower(), row[2])
                   for row in conn.execute(f'PRAGMA foreign_key_list("{_quote(table)}")')}
        references[table] = frozenset(parents)
    return Schema(tables={t: "\n".join(p) for t, p in parts.items()}, references=references,
                  triggers=frozenset(table for kind, _, table, _ in rows if kind == "trigger"))


def _quote(name: str) -> str:
    return name.replace('"', '""')


def _integrity_problems(conn: sqlite3.Connection, *, quick: bool,
                        tables: Collection[str] | None = None,
                        progress: TableProgress = None) -> list[str]:
    """integrity_check (or quick_check) and foreign_key_check, of the whole database or
    of ``tables`` only (each with its indexes: SQLite 3.33's per-table form), calling
    ``progress(done, total)`` after each table."""
    pragma = "quick_check" if quick else "integrity_check"
    if tables is None:
        targets: list[str | None] = [None]
    else:
        existing = set(_tables(conn))
        targets = [t for t in sorted(tables) if t in existing]
    problems: list[str] = []
    for done, table in enumerate(targets, 1):
        argument = "" if table is None else f'("{_quote(table)}")'
        try:
            problems += [row[0] for row in conn.execute(f"PRAGMA {pragma}{argument}") if row[0] != "ok"]
            for child, rowid, parent, _fkid in conn.execute(f"PRAGMA foreign_key_check{argument}"):
                problems.append(f"foreign key violation: {child} row {rowid} references a missing {parent} row")
        except sqlite3.DatabaseError as exc:
            # Damage bad enough to stop the check is its finding; anything else
            # (a lock, say) means the check could not run, and goes up.
            if getattr(exc, "sqlite_errorcode", None) not in (SQLITE_CORRUPT, SQLITE_NOTADB):
                raise
            problems.append(f"{table or 'the database'}: {exc}")
        if progress is not None:
            progress(done, len(targets))
    return problems


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
