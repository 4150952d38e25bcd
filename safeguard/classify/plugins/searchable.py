"""SQLAlchemy-Searchable: ``sync_trigger``, ``drop_trigger`` and ``sql_expressions``.

Read from SQLAlchemy-Searchable 3.0.0 (``sqlalchemy_searchable/__init__.py``,
``expressions.sql``) and the 1.x releases, whose ``sync_trigger`` docstring (the
library's documentation of Alembic migrations) shows the revisions:
``sync_trigger(op.get_bind(), 'article', 'search_vector', ['name', 'content'])``.

- ``sync_trigger(conn, table_name, tsvector_column, indexed_columns, metadata=None,
  options=None, schema=None, update_rows=True)`` drops and re-creates the search
  trigger and its trigger function, then (unless ``update_rows=False``, 3.0) runs
  ``UPDATE <table> SET <first indexed column> = <itself>``: the rows' own values are
  written back unchanged, and the trigger refills the search vector column from them.
  The vector is derived data (a function of the row's columns), so nothing a user
  wrote changes: safe. (That UPDATE also fires the table's other UPDATE triggers.)
- ``drop_trigger(conn, table_name, tsvector_column, ...)`` drops the trigger and the
  function: safe.
- ``sql_expressions`` is a DDL object whose statements are ``CREATE OR REPLACE
  FUNCTION parse_websearch(...)``: executing it (``op.execute(sql_expressions)``)
  changes no rows.
- ``vectorizer`` (and ``vectorizer.clear()``), ``SearchOptions``, ``search`` and
  ``make_searchable`` configure the library in the process: no database work.
"""

from __future__ import annotations

import ast

from ..frames import Args, Evaluator, Situation
from ..values import UNKNOWN, Const, SchemaStatement, Value

PLUGIN = "SQLAlchemy-Searchable"
PACKAGE = "sqlalchemy_searchable"

_SQL_EXPRESSIONS = SchemaStatement(
    "sqlalchemy_searchable.sql_expressions (CREATE OR REPLACE FUNCTION parse_websearch)")
#: Names that do no database work, or only the trigger and function work above.
_SAFE = frozenset({"sync_trigger", "drop_trigger", "vectorizer", "SearchOptions", "search",
                   "make_searchable", "remove_listeners", "inspect_search_vectors", "SearchManager",
                   "search_manager"})

OPERATIONS: dict = {}  # plain functions, no op methods


def value_of(dotted: str) -> Value | None:
    """``sqlalchemy_searchable.sql_expressions``; None for other names."""
    return _SQL_EXPRESSIONS if dotted == f"{PACKAGE}.sql_expressions" else None


def call(interp: Evaluator, dotted: str, args: Args, node: ast.Call, sit: Situation) -> Value | None:
    """A function of the package called in a revision; None when not modelled."""
    parts = dotted.split(".")
    if len(parts) >= 2 and parts[1] in _SAFE:
        interp.invoke_passed_callables(args, node, sit)
        return Const(None) if parts[1] in {"sync_trigger", "drop_trigger"} else UNKNOWN
    return None
