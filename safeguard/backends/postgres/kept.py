"""Kept databases: the database a manual restore replaced, kept on the server as the
restore's safety snapshot instead of being dumped first.

A restore's swap (swap.py) sets the live database aside as ``D.sg-old`` and then drops
it. A manual restore needs the state it replaces as a safety snapshot, and used to
take it with a whole pg_dump before starting (896 MB: 14 s of a 27.5 s restore). The
set-aside database *is* that state, already complete and closed to connections, so
`keep` makes it the snapshot, at the cost of a count of its rows:

    1. write the marker kept.json into the snapshot's staging directory, naming
       ``D.sg-kept-<snapshot id>``                       crash: D.sg-old dropped by
                                                           recover, staging removed
    2. count its rows and fingerprint its catalog (opened for that alone)
    3. COMMENT ON DATABASE "D.sg-old" IS '<its own marker>' (what the store's marker
       says, on the server: see below)
    4. ALTER DATABASE "D.sg-old" RENAME TO "D.sg-kept-<id>"
                                                         crash: recover drops the kept
                                                           database the leftover staging
                                                           names (discard_partial)
    5. (the store) rename the staging directory, write the manifest last

So a crash leaves either no safety snapshot and no kept database, or both. The kept
database stays closed to connections: nothing can change it. Its manifest records its
oid (a rename keeps it; a database dropped and re-created under the name has another),
its row counts and a fingerprint of its catalog, which is what `snapshot verify` can
prove of it. It is restored like a template snapshot (template.py: copied to
``D.sg-restoring`` and swapped in), so it survives its own restore; `prune` drops it.

Its own marker, the database's comment (``{"safeguard_kept": "<snapshot id>",
"database": "<host:port/D>", "created_at": ...}``), outlives the store: with the store
lost (a new machine, a deleted directory), `snapshot list` still finds each kept
database of D on the server and `snapshot prune` decides and drops it by that marker
(`on_server`, `drop_on_server`), so none is left behind for good. The comment D had is
in the manifest's database properties, and a restore gives it back.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg import sql

from ... import digest, durable, faults
from ...durable import Progress
from ...errors import RestoreError, SnapshotError
from ...manifest import KEPT_DATABASE, SAFETY_REASON, Payload, Snapshot
from .. import count_mismatches
from . import catalog, databases, names
from .held import HeldDatabase
from .server import Server, describe, errors_as

MARKER = "kept.json"
#: The key of the kept database's own marker (its comment) naming its snapshot.
MARKER_KEY = "safeguard_kept"
RENAME_TRIES = 40
#: Every column of every table, view and index (and its type), in order: a database
#: with another schema, or another database under the same name, differs here.
FINGERPRINT_QUERY = (
    "SELECT n.nspname, c.relname, c.relkind, a.attnum, a.attname, "
    "format_type(a.atttypid, a.atttypmod), a.attnotnull "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
    "AND n.nspname NOT LIKE 'pg_temp%%' AND n.nspname NOT LIKE 'pg_toast_temp%%' "
    "ORDER BY 1, 2, 4"
)


def keep(server: Server, directory: Path, snapshot_id: str, *, progress: Progress = None) -> Payload:
    """Make the database the last swap set aside (``D.sg-old``) the kept database of
    snapshot ``snapshot_id``, its marker written into ``directory`` (steps above)."""
    live = server.database
    old, kept = names.old(live), names.kept(live, snapshot_id)
    marker = directory / MARKER
    with errors_as(SnapshotError, f"cannot keep the replaced database of {server.identity()}"):
        conn = server.connect_maintenance()
    with conn:
        with errors_as(SnapshotError, f"cannot keep {old} as a safety snapshot"):
            if not databases.exists(conn, old):
                raise SnapshotError(f"{old}, the database the restore replaced, is gone")
            durable.write_json(marker, {"kept_database": kept, "database": live})
            faults.point("postgres:keep:marked")
            row = conn.execute("SELECT oid, pg_database_size(oid) FROM pg_database "
                               "WHERE datname = %s", (old,)).fetchone()
            assert row is not None  # it exists, and nobody else renames safeguard's names
            oid, size = row
            props = databases.read_properties(conn, old)
            version = databases.server_version(conn)
            counts, fingerprint = _inspect(server, conn, old)
            conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(old), sql.Literal(json.dumps({
                    MARKER_KEY: snapshot_id, "database": server.identity(),
                    "created_at": datetime.now(timezone.utc).isoformat(timespec="microseconds")}))))
            _rename_when_closed(conn, old, kept)
            faults.point("postgres:keep:renamed")
    if progress:
        progress(size)
    return Payload(
        files={MARKER: digest.of_file(marker)},
        size=marker.stat().st_size,
        row_counts=counts,
        extra={
            "strategy": "kept",
            "format": KEPT_DATABASE,
            "database": live,
            "kept_database": kept,
            "kept_oid": oid,
            "kept_size": size,
            "catalog_fingerprint": fingerprint,
            "server_version": version,
            "database_properties": props.to_dict(),
        },
    )


def on_server(server: Server) -> list[Snapshot]:
    """The kept databases of ``server.database`` found on the server by their own
    marker (step 3), each described as a safety snapshot (its id, time and database,
    and its size now; no files, no row counts): what `snapshot list` shows and
    `snapshot prune` decides on when the store holds no manifest of one."""
    with errors_as(RestoreError, f"cannot list the kept databases of {server.identity()}"):
        with server.connect_maintenance() as conn:
            rows = conn.execute(
                "SELECT datname, shobj_description(oid, 'pg_database'), pg_database_size(oid) "
                "FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE %s "
                "ORDER BY datname", ('{"' + MARKER_KEY + '"%',)).fetchall()
    found = []
    for name, comment, size in rows:
        marker = _marker(comment)
        if marker is None or marker.get("database") != server.identity() or names.KEPT not in name:
            continue
        found.append(Snapshot(
            id=marker[MARKER_KEY], created_at=marker["created_at"],
            reason=f"{SAFETY_REASON} (the kept database {name}, found on the server)",
            engine="postgresql", database=server.identity(), revisions=(), size=size,
            sha256="", files={}, row_counts={}, safety=True,
            extra={"strategy": "kept", "format": KEPT_DATABASE, "kept_database": name,
                   "kept_size": size}))
    return found


def drop_on_server(server: Server, snapshot: Snapshot) -> None:
    """Drop the kept database of ``snapshot`` (one `on_server` found), after checking
    that its marker still names that snapshot."""
    name = str(snapshot.extra.get("kept_database", ""))
    with errors_as(RestoreError, f"cannot drop the kept database {name}"):
        with server.connect_maintenance() as conn:
            row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                               "WHERE datname = %s", (name,)).fetchone()
            marker = _marker(row[0]) if row else None
            if marker is None or marker.get(MARKER_KEY) != snapshot.id:
                return  # gone already, or not that snapshot's: never dropped on a guess
            databases.drop(conn, name)


def _marker(comment: str | None) -> dict | None:
    try:
        marker = json.loads(comment or "")
    except ValueError:
        return None
    if not (isinstance(marker, dict) and isinstance(marker.get(MARKER_KEY), str)
            and isinstance(marker.get("created_at"), str)):
        return None
    return marker


def discard_partial(server: Server, directory: Path) -> str | None:
    """Drop the kept database a snapshot that never got its manifest names (a crash
    between steps 3 and 4); what was dropped, or None."""
    try:
        kept = KeptStrategy.database_of(directory)
    except RestoreError:
        return None  # no marker: the crash came before step 1, D.sg-old is recover's
    with errors_as(RestoreError, f"cannot drop {kept}, left by an interrupted restore"):
        with server.connect_maintenance() as conn:
            if not databases.exists(conn, kept):
                return None
            databases.drop(conn, kept)
    return f"dropped {kept}, the kept database of a safety snapshot that was never completed"


class KeptStrategy(HeldDatabase):
    """Safety snapshots that are the databases restores replaced."""

    name = "kept"
    marker, marker_key, infix = MARKER, "kept_database", names.KEPT
    kind, size_key = "kept database", "kept_size"

    def __init__(self, server: Server, tools_: object, options: object) -> None:
        self.server = server

    def snapshot(self, directory: Path, *, progress: Progress = None) -> Payload:
        """Never taken on demand: only a restore's swap makes one (see `keep`)."""
        raise SnapshotError("a kept database is made by a restore, not by `snapshot create`")

    def verify(self, directory: Path, snapshot: Snapshot) -> list[str]:
        """The kept database exists, is the one the restore set aside (its oid), and
        still has the manifest's tables, columns and row counts."""
        try:
            kept = KeptStrategy.database_of(directory)
        except RestoreError as exc:
            return [str(exc)]
        extra = snapshot.extra
        try:
            with self.server.connect_maintenance() as conn:
                row = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (kept,)).fetchone()
                if row is None:
                    return [f"the kept database {kept} no longer exists on the server"]
                if extra.get("kept_oid") is not None and row[0] != extra["kept_oid"]:
                    return [f"{kept} is not the database the restore kept (oid {row[0]}, "
                            f"the manifest says {extra['kept_oid']})"]
                counts, fingerprint = _inspect(self.server, conn, kept)
        except psycopg.Error as exc:
            raise RestoreError(f"cannot verify the kept database {kept}: {describe(exc)}") from exc
        problems = []
        if extra.get("catalog_fingerprint") not in (None, fingerprint):
            problems.append(f"the tables or columns of {kept} differ from those recorded")
        return problems + count_mismatches(snapshot.row_counts, counts)


def _inspect(server: Server, conn: psycopg.Connection, name: str) -> tuple[dict[str, int], str]:
    """Row counts and catalog fingerprint of the closed database ``name``, opened to
    connections for that moment only."""
    databases.allow_connections(conn, name, True)
    try:
        with server.connect(name) as inside:
            inside.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            counts = catalog.row_counts(inside)
            rows = inside.execute(FINGERPRINT_QUERY).fetchall()
            inside.execute("ROLLBACK")
    finally:
        databases.allow_connections(conn, name, False)
    text = json.dumps([list(map(str, r)) for r in rows])
    return counts, "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _rename_when_closed(conn: psycopg.Connection, name: str, new: str) -> None:
    """Rename ``name``, waiting briefly for the session `_inspect` closed to be gone."""
    for _ in range(RENAME_TRIES - 1):
        try:
            databases.rename(conn, name, new)
            return
        except psycopg.errors.ObjectInUse:
            time.sleep(0.05)
    databases.rename(conn, name, new)
