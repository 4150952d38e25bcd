"""What is inside one database (a MySQL "schema"): its tables, row counts, storage
engines, schema objects (views, triggers, routines, events) and integrity problems.

Tables are named by their bare names, as SQLite's are, so manifests of every engine
read alike. Every function takes a PyMySQL cursor; none changes anything except
those that say so (dropping and creating objects, for the restore's swap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Sequence

import pymysql

from ...footprint import Schema
from .. import TableProgress
from .server import describe, quote

Cursor = Any  # pymysql.cursors.Cursor


def rows(cur: Cursor, query: str, *args: Any) -> list[tuple[Any, ...]]:
    cur.execute(query, args or None)
    return [tuple(row) for row in cur.fetchall()]


def exists(cur: Cursor, database: str) -> bool:
    return bool(rows(cur, "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                     database))


def tables(cur: Cursor, database: str) -> list[str]:
    """The base tables of ``database``, sorted."""
    return [t for (t,) in rows(cur, "SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = %s AND table_type = 'BASE TABLE' "
                                    "ORDER BY 1", database)]


def not_innodb(cur: Cursor, database: str) -> list[tuple[str, str]]:
    """(table, engine) of every base table a consistent dump cannot freeze."""
    return rows(cur, "SELECT table_name, coalesce(engine, '?') FROM information_schema.tables "
                     "WHERE table_schema = %s AND table_type = 'BASE TABLE' "
                     "AND coalesce(engine, '') <> 'InnoDB' ORDER BY 1", database)


def row_counts(cur: Cursor, database: str, only: Collection[str] | None = None) -> dict[str, int]:
    """Exact ``count(*)`` of every table (of ``only``, when given)."""
    counts = {}
    for table in tables(cur, database):
        if only is not None and table not in only:
            continue
        cur.execute(f"SELECT count(*) FROM {quote(database)}.{quote(table)}")
        counts[table] = int(cur.fetchone()[0])
    return counts


def size(cur: Cursor, database: str) -> int:
    found = rows(cur, "SELECT coalesce(sum(data_length + index_length), 0) "
                      "FROM information_schema.tables WHERE table_schema = %s", database)
    return int(found[0][0])


def schema(cur: Cursor, database: str) -> Schema:
    """Each table's definition (SHOW CREATE TABLE, without its AUTO_INCREMENT counter),
    its foreign keys, and which tables have triggers (see footprint.py)."""
    definitions = {}
    for table in tables(cur, database):
        cur.execute(f"SHOW CREATE TABLE {quote(database)}.{quote(table)}")
        text = cur.fetchone()[1]
        definitions[table] = " ".join(part for part in text.split(" ")
                                      if not part.startswith("AUTO_INCREMENT="))
    references: dict[str, set[str]] = {}
    for child, parent in rows(cur, "SELECT table_name, referenced_table_name "
                                   "FROM information_schema.referential_constraints "
                                   "WHERE constraint_schema = %s", database):
        references.setdefault(child, set()).add(parent)
    triggered = frozenset(t for (t,) in rows(
        cur, "SELECT DISTINCT event_object_table FROM information_schema.triggers "
             "WHERE trigger_schema = %s", database))
    return Schema(tables=definitions, references={t: frozenset(p) for t, p in references.items()},
                  triggers=triggered)


def integrity_problems(cur: Cursor, database: str, *, quick: bool,
                       only: Collection[str] | None = None,
                       progress: TableProgress = None) -> list[str]:
    """What ``CHECK TABLE`` (QUICK when ``quick``: no scan of the rows for links) says
    of every table (of ``only``), one problem per message that is not OK."""
    problems = []
    wanted = [t for t in tables(cur, database) if only is None or t in only]
    for done, table in enumerate(wanted, 1):
        try:
            found = rows(cur, f"CHECK TABLE {quote(database)}.{quote(table)}"
                              + (" QUICK" if quick else ""))
        except pymysql.Error as exc:
            problems.append(f"table {table} cannot be checked: {describe(exc)}")
            continue
        for _name, _op, kind, text in found:
            if str(kind).lower() in ("error", "warning") or (
                    str(kind).lower() == "status" and text not in ("OK", "Table is already up to date")):
                problems.append(f"table {table}: CHECK TABLE says {kind}: {text}")
        if progress is not None:
            progress(done, len(wanted))
    return problems


# -- schema objects: what RENAME TABLE does not carry, or cannot ------------------------

@dataclass(frozen=True)
class SchemaObject:
    """A view, trigger, routine or event, as its CREATE statement (with the sql_mode it
    was created under), written without its database's name."""

    kind: str  # VIEW | TRIGGER | PROCEDURE | FUNCTION | EVENT
    name: str
    create: str
    sql_mode: str

    def drop(self, database: str) -> str:
        return f"DROP {self.kind} IF EXISTS {quote(database)}.{quote(self.name)}"


def objects(cur: Cursor, database: str) -> list[SchemaObject]:
    """Every view, trigger, routine and event of ``database``: routines first (views
    and triggers may call them), then views, triggers and events. Read with
    ``database`` as the default database, so the statements do not name it."""
    cur.execute(f"USE {quote(database)}")
    found: list[SchemaObject] = []
    for name, kind in rows(cur, "SELECT routine_name, routine_type FROM information_schema.routines "
                                "WHERE routine_schema = %s ORDER BY 2, 1", database):
        row = rows(cur, f"SHOW CREATE {kind} {quote(name)}")[0]
        found.append(SchemaObject(kind, name, row[2], row[1]))
    for (name,) in rows(cur, "SELECT table_name FROM information_schema.views "
                             "WHERE table_schema = %s ORDER BY 1", database):
        row = rows(cur, f"SHOW CREATE VIEW {quote(name)}")[0]
        found.append(SchemaObject("VIEW", name, row[1], ""))
    for (name,) in rows(cur, "SELECT trigger_name FROM information_schema.triggers "
                             "WHERE trigger_schema = %s ORDER BY action_order, 1", database):
        row = rows(cur, f"SHOW CREATE TRIGGER {quote(name)}")[0]
        found.append(SchemaObject("TRIGGER", name, row[2], row[1]))
    for (name,) in rows(cur, "SELECT event_name FROM information_schema.events "
                             "WHERE event_schema = %s ORDER BY 1", database):
        row = rows(cur, f"SHOW CREATE EVENT {quote(name)}")[0]
        found.append(SchemaObject("EVENT", name, row[3], row[1]))
    return found


def drop_objects(cur: Cursor, database: str, found: Sequence[SchemaObject]) -> None:
    for item in found:
        cur.execute(item.drop(database))


def create_objects(cur: Cursor, database: str, found: Sequence[SchemaObject]) -> None:
    """Create ``found`` in ``database``; views in as many rounds as their dependencies
    on each other need."""
    cur.execute(f"USE {quote(database)}")
    saved = rows(cur, "SELECT @@SESSION.sql_mode")[0][0]
    pending = list(found)
    try:
        while pending:
            failed: list[tuple[SchemaObject, pymysql.Error]] = []
            for item in pending:
                cur.execute("SET SESSION sql_mode = %s", (item.sql_mode if item.kind != "VIEW" else saved,))
                try:
                    cur.execute(item.create)
                except pymysql.Error as exc:
                    if item.kind != "VIEW":
                        raise
                    failed.append((item, exc))
            if len(failed) == len(pending):
                raise failed[0][1]
            pending = [item for item, _ in failed]
    finally:
        cur.execute("SET SESSION sql_mode = %s", (saved,))
