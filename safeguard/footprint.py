"""What a run touched: the tables its statements wrote and the tables whose schema it
changed, so that the checks after it cost what it changed and not what the database
weighs (a full `integrity_check` of 3 GiB takes minutes; of the table a revision
rebuilt, milliseconds).

Two sources, both from what actually ran rather than from the classifier's reading of
the revision files:

1. The statements executed on the connection env.py handed to Alembic, recorded by a
   ``before_cursor_execute`` listener on that connection for the run's duration
   (`StatementLog`) and read with sqlglot: the target of each INSERT, UPDATE, DELETE,
   MERGE, COPY, the tables each DDL statement names. Literals are blanked before a
   statement is remembered, so a loop of ten thousand INSERTs is one shape to read.
2. The schema before and after the run (`Schema`, read by the backend): a table
   created, dropped, or whose columns, constraints, indexes or triggers changed.

The checks then cover the touched tables and, transitively, every table with a foreign
key to one of them (a parent's deleted rows orphan its children's; a cascade reaches
grandchildren). The rest of the database is vouched for by the snapshot's proof and by
the run not touching it.

When the footprint cannot be known it is *unknown*, with the reason, and the checks
cover the whole database: a statement sqlglot cannot read, a function call or
procedure that may write anything, a PRAGMA that may, a touched table with a trigger
(which writes tables no statement names), a connection the listener did not see.
Statements sent through a raw DB-API cursor bypass the listener: their DDL still shows
in the schema comparison; their row changes do not (documented limit).
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from sqlalchemy import event

#: Past this many distinct statement shapes the footprint is declared unknown rather
#: than read (reading costs about a millisecond a shape).
MAX_SHAPES = 5000

_LITERAL = re.compile(r"'(?:[^']|'')*'|(?<![\w$])\d+(?:\.\d+)?(?![\w$])")
_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|(?<![:\w]):[A-Za-z_]\w*\b")  # not a ::cast
_PRAGMA = re.compile(r"^\s*PRAGMA\s+(?:[\w\"]+\.)?\"?(\w+)\"?\s*(=|\()?", re.IGNORECASE)
_FIRST_WORD = re.compile(r"^\s*(\w+)")
#: PRAGMAs that only read, or set a property of the connection or file (no table rows).
_HARMLESS_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "foreign_keys", "foreign_key_check", "database_list",
    "collation_list", "compile_options", "legacy_alter_table", "defer_foreign_keys",
    "journal_mode", "synchronous", "busy_timeout", "cache_size", "temp_store",
    "recursive_triggers", "case_sensitive_like", "schema_version", "user_version",
    "application_id", "page_size", "page_count", "freelist_count", "encoding",
    "integrity_check", "quick_check", "optimize", "data_version", "function_list",
    "pragma_list", "module_list", "mmap_size", "query_only", "automatic_index",
})
#: Statements that name no table and write no row (transaction control, settings).
_HARMLESS_COMMANDS = frozenset({
    "begin", "commit", "rollback", "savepoint", "release", "set", "reset", "show",
    "analyze", "vacuum", "comment", "grant", "revoke", "lock", "discard", "listen",
    "notify", "checkpoint", "end", "start", "describe", "desc",
})
#: DDL whose tables the schema comparison sees even when sqlglot cannot read it.
_DDL_COMMANDS = frozenset({"alter", "create", "drop", "truncate", "reindex", "cluster"})
#: Functions known not to write tables (beyond those sqlglot types itself).
_SAFE_FUNCTIONS = frozenset({
    "format_type", "to_regclass", "current_setting", "set_config", "nextval", "setval",
    "currval", "lastval", "obj_description", "col_description", "gen_random_uuid",
    "uuid_generate_v4", "generate_series", "unnest", "array_agg", "string_agg",
    "quote_ident", "quote_literal", "regexp_replace", "json_build_object",
    "jsonb_build_object", "to_jsonb", "to_json", "row_number", "random", "now",
    "sqlite_version", "changes", "last_insert_rowid", "total_changes", "printf",
    "format", "ifnull", "iif", "typeof", "hex", "randomblob", "zeroblob", "julianday",
    "strftime", "datetime", "date", "time", "unixepoch", "json", "json_extract",
    "json_object", "json_array", "likelihood", "instr", "char", "unicode", "quote",
})
_WRITE_FUNCTIONS_DIALECTS = ("postgresql",)


@dataclass(frozen=True)
class Schema:
    """The tables of a database as the footprint needs them."""

    #: Table -> a text that changes whenever its definition, indexes or triggers do.
    tables: Mapping[str, str]
    #: Table -> the tables it has a foreign key to.
    references: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: Tables with a trigger of the schema's own (not a foreign key's machinery).
    triggers: frozenset[str] = frozenset()

    def referencing(self, tables: Iterable[str]) -> frozenset[str]:
        """``tables`` and every table with a foreign key to one of them, transitively."""
        found = set(tables)
        frontier = set(found)
        while frontier:
            frontier = {child for child, parents in self.references.items()
                        if child not in found and parents & frontier}
            found |= frontier
        return frozenset(found)


@dataclass(frozen=True)
class Footprint:
    """The tables a run touched; ``tables`` None when that cannot be known (``why``)."""

    tables: frozenset[str] | None
    why: str = ""

    @property
    def known(self) -> bool:
        return self.tables is not None

    @classmethod
    def unknown(cls, why: str) -> "Footprint":
        return cls(None, why)

    def scope(self, schema: Schema) -> frozenset[str] | None:
        """The tables the checks after the run cover: the touched ones that still
        exist and every table referencing them; None for the whole database."""
        if self.tables is None:
            return None
        existing = frozenset(t for t in self.tables if t in schema.tables)
        return schema.referencing(existing)

    def describe(self) -> str:
        if self.tables is None:
            return f"the whole database ({self.why})"
        return ", ".join(sorted(self.tables)) or "no table"

    def to_dict(self) -> dict[str, Any]:
        return {"tables": sorted(self.tables) if self.tables is not None else None,
                "why": self.why}


class StatementLog:
    """The statements a run executed, as literal-free shapes, per dialect."""

    def __init__(self) -> None:
        #: Each shape, and the first statement of that shape as written (what a reason quotes).
        self.shapes: dict[str, str] = {}
        self.dialect: str | None = None
        self.watched = 0
        self.unwatched: str | None = None
        self._paused = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Statements safeguard itself runs on the migration's connection (a
        rehearsal's row counts between revisions) are not the run's."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    def watch(self, connection: Any) -> None:
        """Record what runs on ``connection`` (the one env.py gives Alembic) until it
        closes; the listener is on this connection only, never on a class."""
        if connection is None or not hasattr(connection, "dialect"):
            self.unwatched = "env.py configured Alembic without a connection safeguard could watch"
            return
        self.dialect = connection.dialect.name
        self.watched += 1
        event.listen(connection, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any,
                context: Any, executemany: bool) -> None:
        if not self._paused and len(self.shapes) <= MAX_SHAPES:
            if getattr(conn.dialect, "paramstyle", None) in ("format", "pyformat"):
                # SQLAlchemy doubled each % of the text for the driver, which reads "%%"
                # as "%": undone, the statement is the one the revision wrote.
                statement = statement.replace("%%", "%")
            self.shapes.setdefault(_LITERAL.sub("0", statement), statement)

    def to_dict(self) -> dict[str, Any]:
        """What a child process sends its parent (see runner.py)."""
        return {"shapes": list(self.shapes), "written": list(self.shapes.values()),
                "dialect": self.dialect, "watched": self.watched, "unwatched": self.unwatched}

    def merge(self, data: Mapping[str, Any]) -> None:
        shapes = list(data.get("shapes", ()))
        written = list(data.get("written", ())) or shapes
        for shape, statement in zip(shapes, written):
            self.shapes.setdefault(shape, statement)
        self.dialect = data.get("dialect") or self.dialect
        self.watched += int(data.get("watched") or 0)
        self.unwatched = data.get("unwatched") or self.unwatched

    def named_tables(self) -> tuple[set[str], str | None]:
        """The tables the statements write or define, and why that is not all of it
        (None when it is)."""
        if self.unwatched:
            return set(), self.unwatched
        if not self.watched:
            return set(), "no statement of the run could be watched"
        if len(self.shapes) > MAX_SHAPES:
            return set(), f"the run executed more than {MAX_SHAPES} distinct statements"
        names: set[str] = set()
        for shape, written in self.shapes.items():
            why = _read(shape, self.dialect or "", names, written)
            if why:
                return names, why
        return names, None


def of_run(log: StatementLog, before: Schema, after: Schema) -> Footprint:
    """The run's footprint from its statements and the schema before and after it."""
    named, why = log.named_tables()
    if why:
        return Footprint.unknown(why)
    changed = {t for t in set(before.tables) | set(after.tables)
               if before.tables.get(t) != after.tables.get(t)}
    touched = _resolve(named, set(before.tables) | set(after.tables)) | changed
    triggered = sorted(t for t in touched if t in after.triggers or t in before.triggers)
    if triggered:
        return Footprint.unknown(f"table {triggered[0]} has a trigger, which may write "
                                 "tables no statement names")
    return Footprint(frozenset(touched))


def after(log: StatementLog, before: Schema, backend: Any, connection: Any = None) -> Footprint:
    """The footprint of a run that just finished on ``backend``'s database (or is about
    to commit on ``connection``, a driver connection inside its transaction)."""
    try:
        schema = backend.schema(connection=connection)
    except Exception as exc:  # noqa: BLE001 - an unreadable schema: the checks say more
        return Footprint.unknown(f"the schema could not be read after the run ({exc})")
    return of_run(log, before, schema)


def _resolve(names: set[str], tables: set[str]) -> set[str]:
    """Names as statements wrote them -> the tables they are (SQLite and unquoted
    PostgreSQL names match regardless of case); names of nothing (a temporary table
    created and dropped within the run) drop out."""
    by_lower: dict[str, set[str]] = {}
    for t in tables:
        by_lower.setdefault(t.lower(), set()).add(t)
    found: set[str] = set()
    for name in names:
        found |= {name} if name in tables else by_lower.get(name.lower(), set())
    return found


def _read(shape: str, dialect: str, names: set[str], written: str | None = None) -> str | None:
    """Add the tables ``shape`` writes or defines to ``names``; the reason the
    footprint is unknown if the statement may write tables it does not name (quoting
    ``written``, the statement as the revision wrote it)."""
    shown = _short(written if written is not None else shape)
    pragma = _PRAGMA.match(shape)
    if pragma:
        name = pragma.group(1).lower()
        return None if name in _HARMLESS_PRAGMAS else f"the run executed PRAGMA {name}"
    first = _FIRST_WORD.match(shape)
    word = first.group(1).lower() if first else ""
    if word in _HARMLESS_COMMANDS:
        return None
    if word == "replace":  # SQLite's REPLACE INTO is INSERT OR REPLACE INTO
        shape = "INSERT OR " + shape.lstrip()
    import sqlglot
    from sqlglot import exp

    read = {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql",
            "mariadb": "mysql"}.get(dialect)
    try:
        with _quiet_sqlglot():
            statements = sqlglot.parse(_PLACEHOLDER.sub("NULL", shape), read=read)
    except Exception:  # noqa: BLE001 - sqlglot raises several kinds; all mean "cannot read"
        if word in _DDL_COMMANDS:
            return None  # the schema comparison sees what DDL did to tables
        return f"a statement could not be read: {shown}"
    for statement in statements:
        if statement is None:
            continue
        why = _tables_of(statement, shown, word, dialect, names, exp)
        if why:
            return why
    return None


def _tables_of(statement: Any, shown: str, word: str, dialect: str, names: set[str],
               exp: Any) -> str | None:
    if isinstance(statement, exp.Command):
        if word in _DDL_COMMANDS:
            return None
        return f"the run executed {word.upper() or 'a statement'} ({shown})"
    if dialect in _WRITE_FUNCTIONS_DIALECTS:
        for fn in statement.find_all(exp.Anonymous):
            fn_name = str(fn.name).lower()
            if not (fn_name.startswith("pg_") or fn_name in _SAFE_FUNCTIONS):
                return f"the run called {fn_name}(), which may write any table"
    if isinstance(statement, (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Copy)):
        target = statement.this.find(exp.Table) if statement.this is not None else None
        if target is None:
            return f"a statement's target could not be read: {shown}"
        names.add(_name(target))
        for cte in statement.find_all(exp.CTE):  # PostgreSQL's writable CTEs
            if cte.this.find(exp.Insert, exp.Update, exp.Delete) is not None:
                return f"a statement writes through a WITH clause: {shown}"
        return None
    if isinstance(statement, (exp.Create, exp.Drop, exp.Alter, exp.TruncateTable)):
        kind = str(statement.args.get("kind") or "").upper()
        if kind in ("FUNCTION", "PROCEDURE", "TRIGGER"):
            return None  # defines code; a trigger shows as a touched table's trigger
        names.update(_name(t) for t in statement.find_all(exp.Table))
        return None
    if isinstance(statement, (exp.Select, exp.Union, exp.Subquery, exp.Describe)):
        into = statement.args.get("into")
        if into is not None:
            names.update(_name(t) for t in into.find_all(exp.Table))
        return None
    if isinstance(statement, (exp.Transaction, exp.Commit, exp.Rollback, exp.Set, exp.Pragma)):
        return None
    if word in _DDL_COMMANDS:
        return None  # the rest of a CREATE TRIGGER's body, say: the schema shows it
    return f"the run executed a statement safeguard does not know the effect of: {shown}"


@contextlib.contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs a warning for each statement it falls back to reading as a bare
    command; the footprint says what that means, once."""
    logger = logging.getLogger("sqlglot")
    drop = _DropWarnings()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


class _DropWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.WARNING


def _name(table: Any) -> str:
    """``table`` in public/main, ``schema.table`` elsewhere, as the backends name them."""
    schema = str(table.db or "")
    name = str(table.name)
    return name if schema.lower() in ("", "public", "main") else f"{schema}.{name}"


def _short(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= 80 else text[:77] + "..."
