"""What is inside one database: its tables and their row counts, and the problems its
own catalogs can reveal.

Tables are those of every schema that is not PostgreSQL's own (``pg_*``,
``information_schema``). A table in ``public`` is named by its bare name, any other
as ``schema.table``, so the names match SQLite's and the manifests of both engines
read alike.
"""

from __future__ import annotations

from typing import Callable, Collection

import psycopg
from psycopg import sql

from ...footprint import Schema
from .. import TableProgress
from .server import describe

USER_SCHEMAS = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"


def tables(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(schema, table) of every ordinary and partitioned table, sorted."""
    return [tuple(row) for row in conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMAS} ORDER BY 1, 2"
    )]


def table_key(schema: str, table: str) -> str:
    """The name of a table in row counts and messages."""
    return table if schema == "public" else f"{schema}.{table}"


def row_counts(conn: psycopg.Connection, only: Collection[str] | None = None) -> dict[str, int]:
    """Exact ``count(*)`` of every table (of ``only``, when given), as this
    connection's snapshot sees them."""
    counts = {}
    for schema, table in tables(conn):
        if only is not None and table_key(schema, table) not in only:
            continue
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema),
                                                             sql.Identifier(table))
        counts[table_key(schema, table)] = conn.execute(query).fetchone()[0]
    return counts


def schema(conn: psycopg.Connection) -> Schema:
    """Each table's columns, constraints, indexes and triggers as text, its foreign
    keys, and which tables have triggers of their own (see footprint.py)."""
    parts: dict[str, list[str]] = {table_key(s, t): [] for s, t in tables(conn)}
    for nsp, rel, line in conn.execute(
        "SELECT n.nspname, c.relname, 'column ' || a.attname || ' ' || "
        "format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' "
        "ELSE '' END || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        f"WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND {USER_SCHEMAS} "
        "UNION ALL "
        "SELECT n.nspname, c.relname, 'constraint ' || con.conname || ' ' || "
        "pg_get_constraintdef(con.oid) || CASE WHEN con.convalidated THEN '' ELSE ' not valid' END "
        "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMAS} "
        "UNION ALL "
        "SELECT n.nspname, c.relname, 'index ' || pg_get_indexdef(i.indexrelid) || "
        "CASE WHEN i.indisvalid THEN '' ELSE ' invalid' END "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMAS} "
        "UNION ALL "
        "SELECT n.nspname, c.relname, 'trigger ' || pg_get_triggerdef(t.oid) "
        "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND {USER_SCHEMAS} "
        "ORDER BY 1, 2, 3"
    ):
        parts.setdefault(table_key(nsp, rel), []).append(line)
    references: dict[str, set[str]] = {}
    for cn, cr, pn, pr in conn.execute(
        "SELECT cn.nspname, c.relname, pn.nspname, p.relname FROM pg_constraint con "
        "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace "
        "JOIN pg_class p ON p.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace "
        "WHERE con.contype = 'f'"
    ):
        references.setdefault(table_key(cn, cr), set()).add(table_key(pn, pr))
    triggered = frozenset(table_key(nsp, rel) for nsp, rel in conn.execute(
        "SELECT DISTINCT n.nspname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND {USER_SCHEMAS}"))
    return Schema(tables={t: "\n".join(lines) for t, lines in parts.items()},
                  references={t: frozenset(p) for t, p in references.items()},
                  triggers=triggered)


def integrity_problems(conn: psycopg.Connection, *, quick: bool,
                       only: Collection[str] | None = None,
                       progress: TableProgress = None) -> list[str]:
    """Problems the catalogs show: constraints not validated, indexes left invalid, a
    catalog that cannot be read; and unless ``quick``, a table that cannot be read
    through (and, where the amcheck extension is installed, a damaged B-tree index).

    A NOT VALID constraint promises nothing about the rows already there, and an
    invalid index (a failed CREATE INDEX CONCURRENTLY) is ignored by the planner yet
    still maintained: both are a migration that did not finish its job.

    With ``only``, the constraints, indexes and tables of those tables alone (the
    catalog itself is read whole: that costs milliseconds).
    """
    try:
        return _problems(conn, quick=quick, only=only, progress=progress)
    except psycopg.Error as exc:
        return [f"the catalog cannot be read: {describe(exc)}"]


def _problems(conn: psycopg.Connection, *, quick: bool, only: Collection[str] | None,
              progress: TableProgress) -> list[str]:
    def wanted(nsp: str, rel: str | None) -> bool:
        return only is None or (rel is not None and table_key(nsp, rel) in only)

    problems = []
    # Resolving every column's type reads pg_class, pg_attribute, pg_type and
    # pg_namespace together: a dangling reference among them fails here.
    conn.execute(
        "SELECT c.oid::regclass::text, a.attname, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid "
        f"WHERE {USER_SCHEMAS} AND a.attnum > 0 AND NOT a.attisdropped"
    ).fetchall()
    for owner, name, kind, nsp, rel in conn.execute(
        "SELECT coalesce(c.oid::regclass::text, 'domain ' || t.oid::regtype::text), "
        "con.conname, con.contype, cn.nspname, c.relname FROM pg_constraint con "
        "JOIN pg_namespace n ON n.oid = con.connamespace "
        "LEFT JOIN pg_class c ON c.oid = con.conrelid "
        "LEFT JOIN pg_namespace cn ON cn.oid = c.relnamespace "
        "LEFT JOIN pg_type t ON t.oid = con.contypid "
        f"WHERE NOT con.convalidated AND {USER_SCHEMAS} ORDER BY 1, 2"
    ):
        if not wanted(nsp, rel):
            continue
        what = {"c": "check", "f": "foreign key"}.get(kind, "constraint")
        problems.append(f"{what} constraint {name} on {owner} is NOT VALID "
                        "(rows already present were never checked)")
    for index, table, nsp, rel in conn.execute(
        "SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text, n.nspname, t.relname "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE (NOT i.indisvalid OR NOT i.indisready) AND {USER_SCHEMAS} ORDER BY 1"
    ):
        if not wanted(nsp, rel):
            continue
        problems.append(f"index {index} on {table} is invalid (an interrupted CREATE INDEX "
                        "CONCURRENTLY or REINDEX?)")
    if quick:
        return problems
    scanned = [(nsp, rel) for nsp, rel in tables(conn) if wanted(nsp, rel)]
    for done, (schema, table) in enumerate(scanned, 1):
        # A full scan reads every heap page: damage shows up as an error here.
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(table))).fetchone()
        except psycopg.Error as exc:
            problems.append(f"table {table_key(schema, table)} cannot be read: "
                            f"{describe(exc)}")
        if progress is not None:
            progress(done, len(scanned))
    problems.extend(_amcheck_problems(conn, wanted))
    return problems


def _amcheck_problems(conn: psycopg.Connection, wanted: Callable[[str, str], bool]) -> list[str]:
    """bt_index_check on every valid B-tree index, if amcheck is installed (safeguard
    never installs an extension into the database it guards)."""
    found = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'amcheck'").fetchone()
    if found is None:
        return []
    check = sql.SQL("SELECT {}.bt_index_check(%s::regclass)").format(sql.Identifier(found[0]))
    problems = []
    for index, nsp, rel in conn.execute(
        "SELECT i.indexrelid::regclass::text, n.nspname, t.relname FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am am ON am.oid = c.relam "
        f"WHERE am.amname = 'btree' AND i.indisvalid AND {USER_SCHEMAS} ORDER BY 1"
    ).fetchall():
        if not wanted(nsp, rel):
            continue
        try:
            with conn.transaction():
                conn.execute(check, (index,))
        except psycopg.Error as exc:
            problems.append(f"index {index} is damaged: {describe(exc)}")
    return problems
