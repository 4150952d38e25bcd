"""What a snapshot holds that the live database does not, and the reverse, table by
table: computed by the database itself, on one connection that reaches both the live
tables and a beside copy of the snapshot (backends/beside.py).

Per table: gone (only in the snapshot) or added (only live); columns gone, added or
of another type; rows on each side; and, by the snapshot's primary key, the rows only
in the snapshot (deleted since), only live (inserted since) and in both with other
values in a column both sides have with one type (changed since). Each is one
``count(*)`` with an anti-join or a join on the key, which every engine runs on its
indexes (PostgreSQL as a hash anti-join), never rows carried into Python; ``rows``
also lists up to ``limit`` keys of each. A table without a primary key is compared by
its counts alone, and says so.

The same reflection yields the statements that copy lost data back (`copy_back`):
the join that reads both sides, and for a column or table the live database lost,
the ALTER/CREATE that brings its shape back and the UPDATE/INSERT that fills it from
the copy, for a person to review and run. Later writes survive them: an UPDATE only
sets the lost column of the rows both sides have, an INSERT only fills a table that
was gone.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

#: Keys listed per table and kind of difference, at most (``--rows``).
ROWS_LIMIT = 1000
#: Never compared: what each side's revision says, shown apart.
SKIPPED = frozenset({"alembic_version"})
#: SQLite learned UPDATE ... FROM in 3.33.
SQLITE_UPDATE_FROM = (3, 33, 0)


@dataclass(frozen=True)
class TableDiff:
    """One table, the snapshot's side against the live one."""

    table: str
    #: "gone": only in the snapshot; "added": only live; "both".
    status: str
    snapshot_rows: int | None = None
    live_rows: int | None = None
    #: Columns only in the snapshot, each with its type as the live engine spells it.
    columns_gone: Mapping[str, str] = field(default_factory=dict)
    columns_added: tuple[str, ...] = ()
    #: Columns on both sides whose type differs (not compared row by row).
    columns_retyped: tuple[str, ...] = ()
    #: The snapshot's primary key, when the live table has its columns too.
    key: tuple[str, ...] = ()
    only_in_snapshot: int | None = None
    only_live: int | None = None
    changed: int | None = None
    keys_only_in_snapshot: tuple[tuple[Any, ...], ...] = ()
    keys_only_live: tuple[tuple[Any, ...], ...] = ()
    keys_changed: tuple[tuple[Any, ...], ...] = ()
    #: Why rows were not compared by key, if they were not.
    note: str | None = None
    #: The snapshot's columns, in order, and a CREATE TABLE of it (for a gone table).
    snapshot_columns: tuple[str, ...] = ()
    create_sql: str | None = None

    @property
    def differs(self) -> bool:
        return (self.status != "both" or bool(self.columns_gone or self.columns_added
                                              or self.columns_retyped)
                or self.snapshot_rows != self.live_rows or bool(self.written))

    @property
    def written(self) -> int | None:
        """Rows written since the snapshot (inserted, changed, deleted), when known by
        key; None when compared by counts only."""
        if self.status != "both" or self.only_live is None:
            return None
        return (self.only_live or 0) + (self.changed or 0) + (self.only_in_snapshot or 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table, "status": self.status,
            "snapshot_rows": self.snapshot_rows, "live_rows": self.live_rows,
            "columns_gone": dict(self.columns_gone), "columns_added": list(self.columns_added),
            "columns_retyped": list(self.columns_retyped), "key": list(self.key),
            "only_in_snapshot": self.only_in_snapshot, "only_live": self.only_live,
            "changed": self.changed, "written": self.written,
            "keys_only_in_snapshot": [list(k) for k in self.keys_only_in_snapshot],
            "keys_only_live": [list(k) for k in self.keys_only_live],
            "keys_changed": [list(k) for k in self.keys_changed],
            "note": self.note,
        }

    def lines(self) -> list[str]:
        """The table's differences, for people."""
        if self.status == "gone":
            return [f"{self.table}: gone from the live database ({self.snapshot_rows:,} rows "
                    "in the snapshot)"]
        if self.status == "added":
            return [f"{self.table}: added since the snapshot ({self.live_rows:,} rows)"]
        out = [f"{self.table}: {self.snapshot_rows:,} rows in the snapshot, "
               f"{self.live_rows:,} live"]
        for name, type_ in self.columns_gone.items():
            out.append(f"  column {name} ({type_}) gone from the live table")
        if self.columns_added:
            out.append(f"  column(s) added since: {', '.join(self.columns_added)}")
        if self.columns_retyped:
            out.append(f"  column(s) of another type now (not compared): "
                       f"{', '.join(self.columns_retyped)}")
        if self.note:
            out.append(f"  {self.note}")
        else:
            out.append(f"  by {', '.join(self.key)}: {self.only_in_snapshot:,} only in the snapshot "
                       f"(deleted since), {self.only_live:,} only live (inserted since), "
                       + ("changed rows not compared" if self.changed is None
                          else f"{self.changed:,} changed"))
        for label, keys in (("only in the snapshot", self.keys_only_in_snapshot),
                            ("only live", self.keys_only_live), ("changed", self.keys_changed)):
            if keys:
                shown = ", ".join(_key_text(k) for k in keys)
                out.append(f"  keys {label}: {shown}")
        return out


def compare(conn: sa.Connection, qualifier: str, *, tables: Collection[str] | None = None,
            rows: bool = False, limit: int = ROWS_LIMIT, counted: bool = True) -> tuple[TableDiff, ...]:
    """Each table of the snapshot (reached as ``qualifier.table``) and of the live
    database (of ``tables`` only, when given) compared, in name order; without
    ``counted``, their shapes only (tables, columns, keys: what `copy_back` needs)."""
    inspector = sa.inspect(conn)
    live = set(inspector.get_table_names()) - SKIPPED
    snap = set(inspector.get_table_names(schema=qualifier)) - SKIPPED
    wanted = live | snap if tables is None else (live | snap) & set(tables)
    metadata = sa.MetaData()
    out = []
    for name in sorted(wanted):
        live_t = sa.Table(name, metadata, autoload_with=conn) if name in live else None
        snap_t = sa.Table(name, metadata, schema=qualifier, autoload_with=conn) if name in snap else None
        out.append(_compare_table(conn, name, live_t, snap_t, qualifier, rows=rows, limit=limit,
                                  counted=counted))
    return tuple(out)


def _compare_table(conn: sa.Connection, name: str, live: sa.Table | None, snap: sa.Table | None,
                   qualifier: str, *, rows: bool, limit: int, counted: bool) -> TableDiff:
    dialect = conn.dialect
    count = sa.func.count()

    def _count(conn: sa.Connection, query: sa.Select) -> int | None:
        return int(conn.execute(query).scalar_one()) if counted else None

    if snap is None:
        assert live is not None
        return TableDiff(name, "added", live_rows=_count(conn, sa.select(count).select_from(live)))
    snap_rows = _count(conn, sa.select(count).select_from(snap))
    columns = tuple(c.name for c in snap.columns)
    if live is None:
        return TableDiff(name, "gone", snapshot_rows=snap_rows, snapshot_columns=columns,
                         create_sql=_create_sql(snap, qualifier, dialect))
    live_rows = _count(conn, sa.select(count).select_from(live))
    gone = {c.name: _type_of(c, dialect) for c in snap.columns if c.name not in live.c}
    added = tuple(c.name for c in live.columns if c.name not in snap.c)
    both = [c.name for c in snap.columns if c.name in live.c]
    retyped = tuple(c for c in both if _type_of(snap.c[c], dialect) != _type_of(live.c[c], dialect))
    key = tuple(c.name for c in snap.primary_key.columns)
    facts: dict[str, Any] = dict(snapshot_rows=snap_rows, live_rows=live_rows, columns_gone=gone,
                                 columns_added=added, columns_retyped=retyped,
                                 snapshot_columns=columns)
    if not key:
        return TableDiff(name, "both", note="no primary key: compared by row counts only", **facts)
    if not counted:
        return TableDiff(name, "both", key=key, **facts)
    if any(k not in live.c or k in retyped for k in key):
        return TableDiff(name, "both", note=f"the key ({', '.join(key)}) is not in the live table "
                                            "with its type: compared by row counts only", **facts)
    # Aliased: the two tables have one name, and some dialects would render one for both.
    lv, sn = live.alias("live"), snap.alias("snap")
    match = sa.and_(*[lv.c[k] == sn.c[k] for k in key])
    compared = [c for c in both if c not in key and c not in retyped]
    differs = sa.or_(*[_comparable(lv.c[c]).is_distinct_from(_comparable(sn.c[c]))
                       for c in compared]) if compared else sa.false()
    only_snap = sa.select(*[sn.c[k] for k in key]).where(
        ~sa.select(sa.literal(1)).select_from(lv).where(match).exists())
    only_live = sa.select(*[lv.c[k] for k in key]).where(
        ~sa.select(sa.literal(1)).select_from(sn).where(match).exists())
    changed = sa.select(*[lv.c[k] for k in key]).select_from(lv.join(sn, match)).where(differs)
    found: dict[str, Any] = {}
    for label, query, by in (("only_in_snapshot", only_snap, sn), ("only_live", only_live, lv),
                             ("changed", changed, lv)):
        found[label] = _count(conn, sa.select(count).select_from(query.subquery()))
        if rows:
            ordered = query.order_by(*[by.c[k] for k in key]).limit(limit)
            found[f"keys_{label}"] = tuple(tuple(r) for r in conn.execute(ordered))
    return TableDiff(name, "both", key=key, **found, **facts)


def _comparable(column: sa.Column) -> Any:
    """A column as equality can compare it: PostgreSQL's json has no equality operator,
    so it is compared as text."""
    if isinstance(column.type, sa.JSON) and type(column.type).__name__ != "JSONB":
        return sa.cast(column, sa.Text)
    return column


def _type_of(column: sa.Column, dialect: sa.Dialect) -> str:
    try:
        return str(column.type.compile(dialect=dialect))
    except Exception:  # noqa: BLE001 - a type the dialect cannot spell: its name will do
        return type(column.type).__name__


def _create_sql(snap: sa.Table, qualifier: str, dialect: sa.Dialect) -> str:
    """CREATE TABLE of the snapshot's table, in the live database's default schema.
    Defaults that name the copy (a sequence of PostgreSQL's beside schema) are left
    out: the copy is dropped later."""
    copy = snap.to_metadata(sa.MetaData(), schema=None)  # type: ignore[arg-type]  # None: no schema
    for column in copy.columns:
        default = column.server_default
        text = str(getattr(default, "arg", "")) if default is not None else ""
        if qualifier in text:
            column.server_default = None
    try:
        ddl = str(CreateTable(copy).compile(dialect=dialect))
    except sa.exc.SQLAlchemyError:
        ddl = str(CreateTable(copy, include_foreign_key_constraints=[]).compile(dialect=dialect))
    return ddl.strip() + ";"


# -- the statements that copy lost data back -----------------------------------------------

@dataclass(frozen=True)
class CopyBack:
    """The statements for one table: ``read`` joins both sides; ``restore`` (possibly
    empty) brings back what the live table lost."""

    table: str
    read: str
    restore: tuple[str, ...] = ()
    what: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "read": self.read, "restore": list(self.restore),
                "what": self.what}


def copy_back(diffs: Sequence[TableDiff], qualifier: str, dialect: sa.Dialect) -> tuple[CopyBack, ...]:
    """For each table of the snapshot: the statement that reads both sides, and for a
    lost column or table the statements that restore it."""
    q = dialect.identifier_preparer.quote
    out = []
    for d in diffs:
        if d.status == "added":
            continue
        source = f"{q(qualifier)}.{q(d.table)}"
        if d.status == "gone":
            cols = ", ".join(q(c) for c in d.snapshot_columns)
            out.append(CopyBack(d.table, f"SELECT * FROM {source};", (
                d.create_sql or "", f"INSERT INTO {q(d.table)} ({cols}) SELECT {cols} FROM {source};"),
                what=f"table {d.table} was dropped: re-create it and copy its rows back"))
            continue
        if not d.key:
            out.append(CopyBack(d.table, f"SELECT * FROM {source};", what=d.note or ""))
            continue
        on = " AND ".join(f"live.{q(k)} = snap.{q(k)}" for k in d.key)
        read = f"SELECT live.*, snap.* FROM {q(d.table)} AS live JOIN {source} AS snap ON {on};"
        if not d.columns_gone:
            out.append(CopyBack(d.table, read))
            continue
        target = q(d.table)
        restore = [f"ALTER TABLE {target} ADD COLUMN {q(c)} {t};" for c, t in d.columns_gone.items()]
        restore.append(_update(dialect, target, source, d.key, tuple(d.columns_gone), q))
        out.append(CopyBack(d.table, read, tuple(restore),
                            what=f"column(s) {', '.join(d.columns_gone)} dropped from {d.table}: add "
                                 "them back and fill them from the snapshot, row by key (rows "
                                 "inserted since stay NULL; rows deleted since stay deleted)"))
    return tuple(out)


def _update(dialect: sa.Dialect, target: str, source: str, key: Sequence[str],
            columns: Sequence[str], q: Any) -> str:
    on = " AND ".join(f"{target}.{q(k)} = snap.{q(k)}" for k in key)
    if dialect.name in ("mysql", "mariadb"):
        sets = ", ".join(f"{target}.{q(c)} = snap.{q(c)}" for c in columns)
        return f"UPDATE {target} JOIN {source} AS snap ON {on} SET {sets};"
    if dialect.name == "sqlite" and sqlite3.sqlite_version_info < SQLITE_UPDATE_FROM:
        sets = ", ".join(f"{q(c)} = (SELECT snap.{q(c)} FROM {source} AS snap WHERE {on})"
                         for c in columns)
        return f"UPDATE {target} SET {sets} WHERE EXISTS (SELECT 1 FROM {source} AS snap WHERE {on});"
    sets = ", ".join(f"{q(c)} = snap.{q(c)}" for c in columns)
    return f"UPDATE {target} SET {sets} FROM {source} AS snap WHERE {on};"


def _key_text(key: Sequence[Any]) -> str:
    return str(key[0]) if len(key) == 1 else "(" + ", ".join(map(str, key)) + ")"
