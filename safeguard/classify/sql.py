"""Classify SQL text by what its statements do to existing data.

Each statement is parsed with sqlglot and judged on the parsed tree, so case,
line breaks, comments and string literals cannot fool it: ``-- DROP TABLE x`` is
a comment, ``'DELETE'`` is a string, and ``delete from`` is a DELETE. Statements
sqlglot cannot parse fall back to a keyword reading of their tokens (still not a
regular expression over raw text: comments and strings are gone by then).

Statements are judged by their kind even when sqlglot cannot read them: creating a
trigger, function, procedure, operator or type changes no rows, whatever the body
says. A body runs when something calls it: an anonymous PostgreSQL ``DO`` block runs
at once, so its statements are read with the keyword reading (``EXECUTE`` of one
literal is read as that literal; of anything built at run time, UN101), and a
function or procedure created in the revision and then called (``SELECT f()``,
``PERFORM f()``, ``CALL p()``) counts what its body does at the call. A few spatial
SQL functions drop or rename data when called (plugins/geoalchemy.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from . import effects as fx
from .effects import Effect
from .plugins import SQL_FUNCTIONS
from .state import SchemaState
from .statements import (
    SqlUnreadable,
    Statement,
    split_statements,
    tokenize,
)


class _QuietCommandFallback(logging.Filter):
    """sqlglot warns whenever it keeps an unknown statement as a Command; for a
    classifier that is an expected outcome, not something to print to users."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


_QUIET = _QuietCommandFallback()
_quiet_holders = 0
_quiet_lock = threading.Lock()


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """The filter on sqlglot's logger while safeguard parses, and only then: importing
    or using the classifier leaves the caller's loggers as they were. Counted, so that
    two threads parsing at once do not remove it from under each other."""
    global _quiet_holders
    logger = logging.getLogger("sqlglot")
    with _quiet_lock:
        if _quiet_holders == 0:
            logger.addFilter(_QUIET)
        _quiet_holders += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_holders -= 1
            if _quiet_holders == 0:
                logger.removeFilter(_QUIET)

#: Without a target dialect, try the generic grammar first, then the two the
#: harness supports; the first that parses wins.
_READERS_WITHOUT_DIALECT: tuple[str | None, ...] = (None, "postgres", "sqlite")


def classify_sql(sql: str, dialect: str | None, schema: SchemaState) -> list[Effect]:
    """Effects of executing ``sql`` (one or more statements).

    ``dialect`` is a sqlglot dialect name or None. ``schema`` is updated with the
    tables and columns the statements create, so that later statements on them
    are judged as new rather than existing.
    """
    try:
        statements = split_statements(sql, dialect)
    except SqlUnreadable as exc:
        return [fx.unanalysable(f"SQL text could not be tokenized ({exc})")]
    found: list[Effect] = []
    for statement in statements:
        found.extend(_statement_effects(statement, dialect, schema))
    return found


#: Leading keywords of statements that leave existing rows alone...
_NON_WRITING_VERBS = frozenset({
    "SELECT", "INSERT", "VALUES", "SET", "RESET", "SHOW", "EXPLAIN", "PRAGMA", "COMMENT",
    "GRANT", "REVOKE", "ANALYZE", "VACUUM", "REINDEX", "CLUSTER", "LOCK", "REFRESH",
    "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "START", "END",
})
#: ...unless one of these keywords appears in them (an upsert, a nested DML).
_WRITING_WORDS = frozenset({"DELETE", "UPDATE", "REPLACE", "MERGE", "TRUNCATE", "DROP", "DUPLICATE", "OVERWRITE"})
_TEXT_TOKENS = frozenset({TokenType.STRING, TokenType.HEREDOC_STRING, TokenType.RAW_STRING,
                          TokenType.NATIONAL_STRING, TokenType.IDENTIFIER})


def _cannot_write(statement: Statement) -> bool:
    """True for a plain SELECT/INSERT (seed rows...) and other non-writing verbs.

    Decided on keyword tokens, so nothing in a string literal counts. Lets the
    classifier skip parsing the long INSERT ... VALUES lists seed data renders to.
    """
    tokens = statement.tokens
    if not tokens or tokens[0].text.upper() not in _NON_WRITING_VERBS:
        return False
    return not any(t.token_type not in _TEXT_TOKENS and t.text.upper() in _WRITING_WORDS for t in tokens)


def _statement_effects(statement: Statement, dialect: str | None, schema: SchemaState) -> list[Effect]:
    if statement.is_routine_definition:
        routine = statement.created_routine()
        if routine is not None:
            schema.routine_created(*routine)
        return []
    called = call_effects(list(statement.tokens), schema, statement.text)
    if _cannot_write(statement):
        return called
    expression = _parse(statement.text, dialect)
    if expression is None:
        found = token_effects(list(statement.tokens), schema)
        if found or _kind_is_clear(statement):
            return called + found
        return called + [fx.unanalysable(f"SQL statement could not be parsed: {_excerpt(statement.text)}")]
    if isinstance(expression, exp.Command):
        return called + token_effects(list(statement.tokens), schema)
    return called + _expression_effects(expression, schema)


#: Objects whose CREATE, ALTER or DROP changes no table rows whatever else the
#: statement says (the keyword reading has already caught DROP ... CASCADE of a type).
_NO_ROWS_OBJECTS = frozenset({
    "FUNCTION", "PROCEDURE", "TRIGGER", "EVENT", "CONSTRAINT", "RULE", "VIEW", "MATERIALIZED",
    "RECURSIVE", "TYPE", "DOMAIN", "EXTENSION", "SEQUENCE", "OPERATOR", "AGGREGATE", "CAST",
    "COLLATION", "CONVERSION", "LANGUAGE", "TRUSTED", "PROCEDURAL", "POLICY", "ROLE", "USER",
    "GROUP", "PUBLICATION", "SUBSCRIPTION", "STATISTICS", "TEXT", "SCHEMA", "INDEX", "ACCESS",
    "TRANSFORM", "SERVER", "FOREIGN",
})
_CREATE_MODIFIERS = frozenset({"OR", "REPLACE", "TEMP", "TEMPORARY", "UNLOGGED", "DEFAULT",
                               "UNIQUE", "IF", "NOT", "EXISTS"})


def _kind_is_clear(statement: Statement) -> bool:
    """True when a statement sqlglot cannot parse is, by its leading keywords, one
    whose kind changes no rows: CREATE, ALTER or DROP of a function, trigger, type,
    operator, policy... (never of a table), and COMMENT ON. The keyword reading has
    already judged it; nothing about it is left unknown."""
    words = statement.keywords
    if not words:
        return False
    if words[0] == "COMMENT":
        return True
    if words[0] not in {"CREATE", "ALTER", "DROP"}:
        return False
    kind = next((w for w in words[1:6] if w not in _CREATE_MODIFIERS), "")
    return kind in _NO_ROWS_OBJECTS


def call_effects(tokens: list[Token], schema: SchemaState, text: str | None = None) -> list[Effect]:
    """What the calls in a statement do: a function or procedure the revision created
    earlier (its body, judged now), or a spatial function that drops or renames data.
    With the statement's ``text``, a statement that names none of them is passed over
    without reading its tokens one by one (seed data renders to long INSERTs)."""
    if tokens and tokens[0].text.upper() in _DEFINING_VERBS:
        return []  # DROP FUNCTION f(), COMMENT ON FUNCTION f(): naming it runs nothing
    if text is not None:
        lowered = text.lower()
        if not any(name in lowered for name in (*SQL_FUNCTIONS, *schema.routines)):
            return []
    called = _called_procedure(tokens)
    if called in schema.routines:
        return _routine_effects(called, schema)
    found: list[Effect] = []
    for i in range(len(tokens) - 1):
        if tokens[i + 1].token_type != TokenType.L_PAREN or tokens[i].token_type in _TEXT_TOKENS:
            continue
        name = tokens[i].text.lower()
        if name in schema.routines:
            found.extend(_routine_effects(name, schema))
        elif name in SQL_FUNCTIONS:
            effect = SQL_FUNCTIONS[name](_string_arguments(tokens, i + 1))
            if effect is not None:
                found.append(effect)
    return found


def _called_procedure(tokens: list[Token]) -> str | None:
    """The unqualified, lower-cased name a CALL statement runs (the tokenizer keeps
    what follows CALL as one raw string)."""
    if len(tokens) == 2 and tokens[0].text.upper() == "CALL":
        return tokens[1].text.split("(", 1)[0].strip().rsplit(".", 1)[-1].strip('"').lower()
    return None


#: Statements that name a function without running it.
_DEFINING_VERBS = frozenset({"CREATE", "ALTER", "DROP", "COMMENT", "GRANT", "REVOKE"})


def _routine_effects(name: str, schema: SchemaState) -> list[Effect]:
    body = schema.routines[name]
    if body is None:
        return [fx.unanalysable(f"calls {name}(), created in this revision, whose body cannot be read")]
    del schema.routines[name]  # a body that calls itself is judged once
    try:
        effects = do_block_effects(_strip_dollar_quotes(body), schema)
    finally:
        schema.routines[name] = body
    suffix = f" (in {name}(), created in this revision and called here)"
    return [replace(e, message=e.message + suffix) for e in effects]


def _string_arguments(tokens: list[Token], opening: int) -> list[str]:
    """The string literals among the arguments of the call whose ``(`` is at ``opening``."""
    depth, found = 0, []
    for token in tokens[opening:]:
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:
                break
        elif token.token_type == TokenType.STRING and depth == 1:
            found.append(token.text)
    return found


def _parse(text: str, dialect: str | None) -> exp.Expression | None:
    readers = (dialect,) if dialect else _READERS_WITHOUT_DIALECT
    for reader in readers:
        try:
            with _quiet_sqlglot():
                parsed = [e for e in sqlglot.parse(text, read=reader) if e is not None]
        except SqlglotError:
            continue
        if parsed:
            return cast(exp.Expression, parsed[0])  # sqlglot types parse() by its base class
    return None


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# --- parsed statements ---------------------------------------------------------------


def _expression_effects(expression: exp.Expression, schema: SchemaState) -> list[Effect]:
    handler = _HANDLERS.get(type(expression))
    found = handler(expression, schema) if handler else []
    # Data-modifying statements can hide in CTEs and subqueries of any statement
    # (WITH gone AS (DELETE ... RETURNING *) INSERT ...).
    for nested in expression.find_all(exp.Delete, exp.Update, exp.Merge):
        if nested is not expression:
            found.extend(_HANDLERS[type(nested)](nested, schema))
    return found


def _qualified(node: exp.Expression | None) -> str | None:
    """``schema.table`` (or ``table``) for a Table, Schema or Identifier node."""
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, exp.Table):
        return ".".join(part.name for part in node.parts) or None
    if isinstance(node, (exp.Identifier, exp.Column)):
        return node.name or None
    return None


def _on_drop(node: exp.Drop, schema: SchemaState) -> list[Effect]:
    kind = (node.args.get("kind") or "").upper()
    names = [_qualified(t) for t in node.args.get("tables") or [node.this]]
    if kind in {"SCHEMA", "DATABASE"}:
        return [fx.drops_schema(name) for name in names]
    if kind in _COLUMN_TYPES and node.args.get("cascade"):
        return [fx.drops_dependent_columns(f"{kind.lower()} {fx.display(name)}") for name in names]
    if kind != "TABLE":
        return []  # views, indexes, sequences, functions: definitions, not data
    found = []
    for name in names:
        if not schema.is_new_table(name):
            found.append(fx.drops_table(name))
        schema.table_dropped(name)
    return found


def _on_create(node: exp.Create, schema: SchemaState) -> list[Effect]:
    kind = (node.args.get("kind") or "").upper()
    if kind == "TABLE":
        schema.table_created(_qualified(node.this))
        return []
    if kind == "INDEX" and node.args.get("unique"):
        index = node.this
        table = _qualified(index.args.get("table")) if isinstance(index, exp.Index) else None
        if not schema.is_new_table(table):
            return [fx.adds_unique(table, _index_columns(index), what="unique index")]
    return []


def _index_columns(index: exp.Expression) -> str | None:
    params = index.args.get("params") if isinstance(index, exp.Index) else None
    columns = params.args.get("columns") if params is not None else None
    return ", ".join(c.sql() for c in columns) if columns else None


def _on_truncate(node: exp.TruncateTable, schema: SchemaState) -> list[Effect]:
    names = [_qualified(t) for t in node.expressions]
    return [fx.truncates(name) for name in names if not schema.is_new_table(name)]


def _on_delete(node: exp.Delete, schema: SchemaState) -> list[Effect]:
    table = _qualified(node.this)
    return [] if schema.is_new_table(table) else [fx.deletes_rows(table)]


def _on_update(node: exp.Update, schema: SchemaState) -> list[Effect]:
    table = _qualified(node.this)
    return [] if schema.is_new_table(table) else [fx.updates_rows(table)]


def _on_merge(node: exp.Merge, schema: SchemaState) -> list[Effect]:
    table = _qualified(node.this)
    return [] if schema.is_new_table(table) else [fx.updates_rows(table, how="(MERGE)")]


def _on_insert(node: exp.Insert, schema: SchemaState) -> list[Effect]:
    table = _qualified(node.this)
    if schema.is_new_table(table):
        return []
    conflict = node.args.get("conflict")
    action = conflict.args.get("action") if conflict is not None else None
    if action is not None and "UPDATE" in action.sql().upper():
        return [fx.updates_rows(table, how="(upsert)")]
    if (node.args.get("alternative") or "").upper() == "REPLACE":
        return [fx.updates_rows(table, how="(INSERT OR REPLACE)")]
    if node.args.get("overwrite"):
        return [fx.deletes_rows(table, how="overwrites the rows of")]
    return []


def _on_alter(node: exp.Alter, schema: SchemaState) -> list[Effect]:
    if (node.args.get("kind") or "").upper() != "TABLE":
        return []
    table = _qualified(node.this)
    renamed_column = _column_rename_read_as_table_rename(node)
    if renamed_column:
        return [fx.renames_column(table, *renamed_column)]
    found: list[Effect] = []
    for action in node.args.get("actions") or []:
        handler = _ALTER_ACTIONS.get(type(action))
        if handler:
            found.extend(handler(table, action, schema))
    return found


def _column_rename_read_as_table_rename(node: exp.Alter) -> tuple[str, str] | None:
    """PostgreSQL's ``ALTER TABLE t RENAME old TO new`` (COLUMN omitted, as Alembic
    writes it) comes out of sqlglot as a table rename to ``old`` with a trailing
    ``TO new`` option; read it as the column rename it is."""
    actions = node.args.get("actions") or []
    targets = [o for o in node.args.get("options") or [] if isinstance(o, exp.ToTableProperty)]
    if len(actions) == 1 and isinstance(actions[0], exp.AlterRename) and targets:
        return actions[0].this.name, targets[0].this.name
    return None


def _alter_drop(table: str | None, action: exp.Drop, schema: SchemaState) -> list[Effect]:
    if (action.args.get("kind") or "").upper() != "COLUMN":
        return []  # DROP CONSTRAINT / INDEX / DEFAULT lose no rows
    columns = [c.name for c in action.args.get("tables") or []]
    return [fx.drops_column(table, c) for c in columns if not schema.is_new_column(table, c)]


def _alter_command(table: str | None, action: exp.Command, schema: SchemaState) -> list[Effect]:
    # "ALTER TABLE t DROP legacy_ref" (COLUMN omitted) is kept as a Command action.
    if str(action.this).upper() != "DROP":
        return []
    words = str(action.expression or "").split()
    column = words[0] if words else None
    if column is None or column.upper() in _NOT_A_COLUMN:
        return []
    return [] if schema.is_new_column(table, column) else [fx.drops_column(table, column)]


def _alter_column(table: str | None, action: exp.AlterColumn, schema: SchemaState) -> list[Effect]:
    if schema.is_new_table(table):
        return []
    column = action.this.name if action.this is not None else None
    found = []
    dtype = action.args.get("dtype")
    if dtype is not None:
        found.append(fx.changes_type(table, column, None, dtype.sql()))
    if action.args.get("allow_null") is False and not action.args.get("drop"):
        found.append(fx.sets_not_null(table, column))
    return found


def _alter_rename_column(table: str | None, action: exp.RenameColumn, schema: SchemaState) -> list[Effect]:
    old = action.this.name if action.this is not None else None
    new = action.args["to"].name if action.args.get("to") is not None else None
    return [fx.renames_column(table, old, new)]


def _alter_rename_table(table: str | None, action: exp.AlterRename, schema: SchemaState) -> list[Effect]:
    new = _qualified(action.this)
    schema.table_renamed(table, new)
    return [fx.renames_table(table, new)]


def _alter_add_column(table: str | None, action: exp.ColumnDef, schema: SchemaState) -> list[Effect]:
    column = action.name
    kinds = {type(c.kind) for c in action.args.get("constraints") or []}
    new_table = schema.is_new_table(table)
    schema.column_added(table, column)
    not_null = bool(kinds & {exp.NotNullColumnConstraint, exp.PrimaryKeyColumnConstraint})
    filled = bool(kinds & {exp.DefaultColumnConstraint, exp.GeneratedAsIdentityColumnConstraint,
                           exp.ComputedColumnConstraint})
    if not_null and not filled and not new_table:
        return [fx.adds_not_null_column(table, column)]
    return []


def _alter_add_constraint(table: str | None, action: exp.AddConstraint, schema: SchemaState) -> list[Effect]:
    if schema.is_new_table(table):
        return []
    for item in action.expressions:
        unique_parts = (exp.UniqueColumnConstraint, exp.PrimaryKey, exp.PrimaryKeyColumnConstraint)
        if isinstance(item, unique_parts) or any(isinstance(e, unique_parts) for e in item.expressions):
            return [fx.adds_unique(table, None)]
    return []


_NOT_A_COLUMN = frozenset({"CONSTRAINT", "INDEX", "DEFAULT", "PRIMARY", "FOREIGN", "CHECK", "KEY", "NOT"})
#: Objects that can be the type of a column: DROP ... CASCADE of one drops those columns.
_COLUMN_TYPES = frozenset({"TYPE", "DOMAIN", "EXTENSION"})

_HANDLERS: dict[type, Callable[..., list[Effect]]] = {
    exp.Drop: _on_drop,
    exp.Create: _on_create,
    exp.TruncateTable: _on_truncate,
    exp.Delete: _on_delete,
    exp.Update: _on_update,
    exp.Merge: _on_merge,
    exp.Insert: _on_insert,
    exp.Alter: _on_alter,
}

_ALTER_ACTIONS: dict[type, Callable[..., list[Effect]]] = {
    exp.Drop: _alter_drop,
    exp.Command: _alter_command,
    exp.AlterColumn: _alter_column,
    exp.RenameColumn: _alter_rename_column,
    exp.AlterRename: _alter_rename_table,
    exp.ColumnDef: _alter_add_column,
    exp.AddConstraint: _alter_add_constraint,
}


# --- keyword reading of tokens (statements sqlglot could not parse) ------------------


class _Words:
    """Upper-cased keywords of a token list, with helpers to read names after them."""

    def __init__(self, tokens: list[Token]) -> None:
        start = 0
        while start < len(tokens) and tokens[start].token_type == TokenType.L_PAREN:
            start += 1  # "(SELECT ...)": the verb follows the parentheses
        self.tokens = tokens[start:]
        self.words = [t.text.upper() for t in self.tokens]

    def index(self, word: str, start: int = 0) -> int:
        try:
            return self.words.index(word, start)
        except ValueError:
            return -1

    def name_at(self, i: int) -> str | None:
        """A possibly dotted name starting at token ``i``, skipping IF [NOT] EXISTS / ONLY."""
        while i < len(self.words) and self.words[i] in {"IF", "NOT", "EXISTS", "ONLY", "TABLE", "COLUMN"}:
            i += 1
        parts = []
        while i < len(self.tokens):
            parts.append(self.tokens[i].text)
            if i + 1 < len(self.tokens) and self.tokens[i + 1].token_type == TokenType.DOT:
                i += 2
                continue
            break
        return ".".join(parts) or None


def token_effects(tokens: list[Token], schema: SchemaState) -> list[Effect]:
    """Effects of one statement judged by its leading keywords only."""
    words = _Words(tokens)
    if not words.words:
        return []
    reader = _KEYWORD_READERS.get(words.words[0])
    return reader(words, schema) if reader else []


def _kw_delete(w: _Words, schema: SchemaState) -> list[Effect]:
    at = w.index("FROM")
    table = w.name_at(at + 1) if at >= 0 else w.name_at(1)
    return [] if schema.is_new_table(table) else [fx.deletes_rows(table)]


def _kw_truncate(w: _Words, schema: SchemaState) -> list[Effect]:
    table = w.name_at(1)
    return [] if schema.is_new_table(table) else [fx.truncates(table)]


def _kw_update(w: _Words, schema: SchemaState) -> list[Effect]:
    table = w.name_at(1)
    return [] if schema.is_new_table(table) else [fx.updates_rows(table)]


def _kw_drop(w: _Words, schema: SchemaState) -> list[Effect]:
    kind = w.words[1] if len(w.words) > 1 else ""
    if kind in {"SCHEMA", "DATABASE"}:
        return [fx.drops_schema(w.name_at(2))]
    if kind in _COLUMN_TYPES and "CASCADE" in w.words:
        return [fx.drops_dependent_columns(f"{kind.lower()} {fx.display(w.name_at(2))}")]
    if kind == "TABLE":
        table = w.name_at(2)
        return [] if schema.is_new_table(table) else [fx.drops_table(table)]
    return []


def _kw_alter(w: _Words, schema: SchemaState) -> list[Effect]:
    if w.words[1:2] == ["TYPE"] and "RENAME" in w.words and "VALUE" in w.words:
        return [_kw_rename_value(w)]
    if len(w.words) < 2 or w.words[1] != "TABLE":
        return []
    table = w.name_at(2)
    found: list[Effect] = []
    for i, word in enumerate(w.words[3:], start=3):
        nxt = w.words[i + 1] if i + 1 < len(w.words) else ""
        if word == "DROP" and nxt not in _NOT_A_COLUMN:
            column = w.name_at(i + 1)
            if not schema.is_new_column(table, column):
                found.append(fx.drops_column(table, column))
        elif word == "RENAME" and nxt not in {"CONSTRAINT", "INDEX", "TRIGGER"}:
            found.append(_kw_rename(w, i, table, schema))
        elif word == "TYPE" and not schema.is_new_table(table):
            found.append(fx.changes_type(table, None, None, None))
        elif word == "SET" and w.words[i + 1 : i + 3] == ["NOT", "NULL"] and not schema.is_new_table(table):
            found.append(fx.sets_not_null(table, None))
        elif word in {"UNIQUE", "PRIMARY"} and "ADD" in w.words[3:i] and not schema.is_new_table(table):
            found.append(fx.adds_unique(table, None))
    return found


def _kw_rename_value(w: _Words) -> Effect:
    """``ALTER TYPE t RENAME VALUE 'old' TO 'new'``: every row that held 'old' reads 'new'."""
    literals = [_unquoted(t.text) for t in w.tokens if t.token_type == TokenType.STRING]
    old, new = (literals + ["?", "?"])[:2]
    return fx.rewrites_enum_value(fx.display(w.name_at(2)), old, new, None, "(ALTER TYPE ... RENAME VALUE)")


def _unquoted(text: str) -> str:
    return text[1:-1].replace("''", "'") if len(text) >= 2 and text[0] == text[-1] == "'" else text


def _kw_rename(w: _Words, i: int, table: str | None, schema: SchemaState) -> Effect:
    if w.words[i + 1 : i + 2] == ["TO"]:
        new = w.name_at(i + 2)
        schema.table_renamed(table, new)
        return fx.renames_table(table, new)
    old = w.name_at(i + 1)
    to = w.index("TO", i)
    return fx.renames_column(table, old, w.name_at(to + 1) if to >= 0 else None)


def _kw_create(w: _Words, schema: SchemaState) -> list[Effect]:
    if "UNIQUE" in w.words[1:4] and "INDEX" in w.words[1:5]:
        on = w.index("ON")
        table = w.name_at(on + 1) if on >= 0 else None
        if not schema.is_new_table(table):
            return [fx.adds_unique(table, None, what="unique index")]
    if w.words[1:2] == ["TABLE"]:
        schema.table_created(w.name_at(2))
    return []


def _kw_insert(w: _Words, schema: SchemaState) -> list[Effect]:
    at = w.index("INTO")
    table = w.name_at(at + 1) if at >= 0 else None
    upsert = (w.index("DO") >= 0 and w.index("UPDATE", w.index("DO")) >= 0) or "REPLACE" in w.words[1:3] \
        or w.index("DUPLICATE") >= 0
    return [fx.updates_rows(table, how="(upsert)")] if upsert and not schema.is_new_table(table) else []


def _kw_with(w: _Words, schema: SchemaState) -> list[Effect]:
    found: list[Effect] = []
    for i, word in enumerate(w.words):
        if word == "DELETE":
            at = w.index("FROM", i)
            found.append(fx.deletes_rows(w.name_at(at + 1) if at >= 0 else None))
        elif word == "UPDATE" and w.words[i - 1] not in {"DO", "FOR"}:
            found.append(fx.updates_rows(w.name_at(i + 1)))
    return found


def _kw_replace_or_merge(w: _Words, schema: SchemaState) -> list[Effect]:
    at = w.index("INTO")
    return [fx.updates_rows(w.name_at(at + 1) if at >= 0 else None, how=f"({w.words[0]})")]


def _kw_call(w: _Words, schema: SchemaState) -> list[Effect]:
    if _called_procedure(w.tokens) in schema.routines:
        return []  # created in this revision: call_effects judged its body
    return [fx.unanalysable(f"{w.words[0]} {w.name_at(1) or ''} runs code the classifier cannot see".strip())]


def _kw_do(w: _Words, schema: SchemaState) -> list[Effect]:
    body = next((t.text for t in w.tokens if t.token_type in _STRING_TOKENS), None)
    if body is None:
        return [fx.unanalysable("a DO block whose body cannot be read")]
    return do_block_effects(_strip_dollar_quotes(body), schema)


def _strip_dollar_quotes(text: str) -> str:
    """``$tag$ body $tag$`` -> `` body `` (the PostgreSQL tokenizer keeps a DO
    command's argument as one raw string, delimiters included)."""
    text = text.strip()
    if text.startswith("$"):
        end = text.find("$", 1)
        tag = text[: end + 1] if end > 0 else ""
        if tag and text.endswith(tag) and len(text) >= 2 * len(tag):
            return text[len(tag) : len(text) - len(tag)]
    return text


_STRING_TOKENS = frozenset({TokenType.HEREDOC_STRING, TokenType.STRING, TokenType.RAW_STRING})
#: PL/pgSQL words after which a new statement starts inside a block.
_BLOCK_WORDS = frozenset({"BEGIN", "THEN", "ELSE", "LOOP", "DECLARE", "EXCEPTION"})


def do_block_effects(body: str, schema: SchemaState) -> list[Effect]:
    """Effects of the statements inside a PL/pgSQL ``DO`` block body.

    PL/pgSQL is not SQL, so each ``;``-separated piece is read from the last block
    keyword (BEGIN, THEN, LOOP...) on, which is where its statement starts.
    """
    try:
        tokens = tokenize(body, "postgres")
    except SqlUnreadable:
        return [fx.unanalysable("a DO block whose body cannot be tokenized")]
    found: list[Effect] = []
    piece: list[Token] = []
    for token in [*tokens, None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            starts = [i for i, t in enumerate(piece) if t.text.upper() in _BLOCK_WORDS]
            first = starts[-1] + 1 if starts else 0
            statement = piece[first:]
            found.extend(call_effects(statement, schema))
            if any(_is_dynamic(piece, i) for i in range(len(piece)) if i != first):
                # FOR r IN EXECUTE ..., RETURN QUERY EXECUTE ...: what runs is not read.
                found.append(fx.unanalysable("a DO block runs SQL built at run time with EXECUTE"))
            if statement and _is_dynamic(statement, 0):
                found.extend(_dynamic_sql(statement[1:], body, schema))
            else:
                found.extend(token_effects(statement, schema))
            piece = []
        else:
            piece.append(token)
    return found


def _is_dynamic(tokens: list[Token], i: int) -> bool:
    """True when ``tokens[i]`` is PL/pgSQL's EXECUTE of a query (not the EXECUTE
    FUNCTION/PROCEDURE of a CREATE TRIGGER)."""
    following = tokens[i + 1].text.upper() if i + 1 < len(tokens) else ""
    return tokens[i].text.upper() == "EXECUTE" and following not in {"FUNCTION", "PROCEDURE"}


def _dynamic_sql(rest: list[Token], body: str, schema: SchemaState) -> list[Effect]:
    """PL/pgSQL ``EXECUTE <expression>``: the SQL of one string literal is read like
    any other; SQL assembled at run time (``format(...)``, ``'...' || x``) is not."""
    # Read from the body's own text: where EXECUTE starts a block, the tokenizer keeps
    # the rest of the statement as one raw string; elsewhere it unquotes the literal.
    text = body[rest[0].start : rest[0].end + 1].strip() if len(rest) == 1 else ""
    literal = None
    if len(text) >= 2 and text[0] == text[-1] == "'" and "'" not in text[1:-1].replace("''", ""):
        literal = text[1:-1].replace("''", "'")
    elif text.startswith("$") and _strip_dollar_quotes(text) != text:
        literal = _strip_dollar_quotes(text)
    if literal is None:
        return [fx.unanalysable("a DO block runs SQL built at run time with EXECUTE")]
    return classify_sql(literal, "postgres", schema)


_KEYWORD_READERS: dict[str, Callable[[_Words, SchemaState], list[Effect]]] = {
    "DELETE": _kw_delete,
    "TRUNCATE": _kw_truncate,
    "UPDATE": _kw_update,
    "DROP": _kw_drop,
    "ALTER": _kw_alter,
    "CREATE": _kw_create,
    "INSERT": _kw_insert,
    "WITH": _kw_with,
    "REPLACE": _kw_replace_or_merge,
    "MERGE": _kw_replace_or_merge,
    "CALL": _kw_call,
    "EXEC": _kw_call,
    "EXECUTE": _kw_call,
    "DO": _kw_do,
}
