"""What is inside one database: its tables and their row counts, and the problems its
own catalogs can reveal.

Tables are those of every schema that is not PostgreSQL's own (``pg_*``,
``information_schema``). A table in ``public`` is named by its bare name, any other
as ``schema.table``, so the names match SQLite's and the manifests of both engines
read alike.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

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


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Exact ``count(*)`` of every table, as this connection's snapshot sees them."""
    counts = {}
    for schema, table in tables(conn):
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema),
                                                             sql.Identifier(table))
        counts[table_key(schema, table)] = conn.execute(query).fetchone()[0]
    return counts


def integrity_problems(conn: psycopg.Connection, *, quick: bool) -> list[str]:
    """Problems the catalogs show: constraints not validated, indexes left invalid, a
    catalog that cannot be read; and unless ``quick``, a table that cannot be read
    through (and, where the amcheck extension is installed, a damaged B-tree index).

    A NOT VALID constraint promises nothing about the rows already there, and an
    invalid index (a failed CREATE INDEX CONCURRENTLY) is ignored by the planner yet
    still maintained: both are a migration that did not finish its job.
    """
    try:
        return _problems(conn, quick=quick)
    except psycopg.Error as exc:
        return [f"the catalog cannot be read: {describe(exc)}"]


def _problems(conn: psycopg.Connection, *, quick: bool) -> list[str]:
    problems = []
    # Resolving every column's type reads pg_class, pg_attribute, pg_type and
    # pg_namespace together: a dangling reference among them fails here.
    conn.execute(
        "SELECT c.oid::regclass::text, a.attname, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid "
        f"WHERE {USER_SCHEMAS} AND a.attnum > 0 AND NOT a.attisdropped"
    ).fetchall()
    for owner, name, kind in conn.execute(
        "SELECT coalesce(c.oid::regclass::text, 'domain ' || t.oid::regtype::text), "
        "con.conname, con.contype FROM pg_constraint con "
        "JOIN pg_namespace n ON n.oid = con.connamespace "
        "LEFT JOIN pg_class c ON c.oid = con.conrelid "
        "LEFT JOIN pg_type t ON t.oid = con.contypid "
        f"WHERE NOT con.convalidated AND {USER_SCHEMAS} ORDER BY 1, 2"
    ):
        what = {"c": "check", "f": "foreign key"}.get(kind, "constraint")
        problems.append(f"{what} constraint {name} on {owner} is NOT VALID "
                        "(rows already present were never checked)")
    for index, table in conn.execute(
        "SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE (NOT i.indisvalid OR NOT i.indisready) AND {USER_SCHEMAS} ORDER BY 1"
    ):
        problems.append(f"index {index} on {table} is invalid (an interrupted CREATE INDEX "
                        "CONCURRENTLY or REINDEX?)")
    if quick:
        return problems
    for schema, table in tables(conn):
        # A full scan reads every heap page: damage shows up as an error here.
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(table))).fetchone()
        except psycopg.Error as exc:
            problems.append(f"table {table_key(schema, table)} cannot be read: "
                            f"{describe(exc)}")
    problems.extend(_amcheck_problems(conn))
    return problems


def _amcheck_problems(conn: psycopg.Connection) -> list[str]:
    """bt_index_check on every valid B-tree index, if amcheck is installed (safeguard
    never installs an extension into the database it guards)."""
    found = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'amcheck'").fetchone()
    if found is None:
        return []
    check = sql.SQL("SELECT {}.bt_index_check(%s::regclass)").format(sql.Identifier(found[0]))
    problems = []
    for (index,) in conn.execute(
        "SELECT i.indexrelid::regclass::text FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_am am ON am.oid = c.relam "
        f"WHERE am.amname = 'btree' AND i.indisvalid AND {USER_SCHEMAS} ORDER BY 1"
    ).fetchall():
        try:
            with conn.transaction():
                conn.execute(check, (index,))
        except psycopg.Error as exc:
            problems.append(f"index {index} is damaged: {describe(exc)}")
    return problems
