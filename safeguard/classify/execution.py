"""What executing a value does: ``op.execute(x)``, ``bind.execute(x)``, ``session.execute(x)``."""

from __future__ import annotations

import ast

from . import effects as fx
from .frames import Evaluator, Situation
from .values import (
    BuiltString,
    Const,
    CoreStatement,
    Query,
    RuntimeData,
    SchemaStatement,
    SqlText,
    Value,
    options,
)

#: Method names that run their first argument as SQL, on any object. An object
#: the analysis cannot identify is still assumed to be a connection or cursor.
EXECUTE_METHODS = frozenset({"execute", "exec_driver_sql", "executemany", "executescript"})


def execute(interp: Evaluator, value: Value, node: ast.AST, sit: Situation) -> Value:
    """Record what running ``value`` does; the result is run-time data (rows)."""
    for option in options(value):
        _execute_one(interp, option, node, sit)
    return RuntimeData("query results")


def _execute_one(interp: Evaluator, value: Value, node: ast.AST, sit: Situation) -> None:
    if isinstance(value, Const):
        if isinstance(value.value, str):
            run_sql(interp, value.value, node, sit)
        elif value.value is not None:
            interp.emit(fx.unanalysable("executes a value that is not SQL text"), node, sit)
    elif isinstance(value, BuiltString):
        interp.emit(fx.unanalysable(f"SQL built at run time with {value.how}"), node, sit)
        for text in value.variants or (value.template,):
            run_sql(interp, text, node, sit)
    elif isinstance(value, SqlText):
        for option in options(value.sql):
            _execute_one(interp, option, node, sit)
    elif isinstance(value, CoreStatement):
        _core_statement(interp, value, node, sit)
    elif isinstance(value, RuntimeData):
        interp.emit(fx.unanalysable(f"executes SQL taken from {value.source}"), node, sit)
    elif not isinstance(value, (Query, SchemaStatement)):
        interp.emit(fx.unanalysable("executes a statement the classifier cannot read"), node, sit)


def run_sql(interp: Evaluator, text: str, node: ast.AST, sit: Situation) -> None:
    """Classify SQL text executed at ``node``."""
    # Imported here, not above: sqlglot is the classifier's largest import (about as
    # much as Alembic's own), and revisions made only of op.* calls never need it.
    from .sql import classify_sql

    for effect in classify_sql(text, interp.sql_dialect, interp.recorder.schema):
        interp.emit(effect, node, sit)


def _core_statement(interp: Evaluator, statement: CoreStatement, node: ast.AST, sit: Situation) -> None:
    table = interp.name(statement.table, node, sit)
    schema = interp.recorder.schema
    if statement.kind == "drop_schema":
        interp.emit(fx.drops_schema(table), node, sit)
        return
    if schema.is_new_table(table):
        return  # rows written by this very revision: nothing old to lose
    effect = _CORE_EFFECTS.get(statement.kind)
    if effect is not None:
        interp.emit(effect(table), node, sit)
    if statement.kind == "drop_table":
        schema.table_dropped(table)


#: Core statement kinds that change existing data (insert and select do not).
_CORE_EFFECTS = {
    "update": fx.updates_rows,
    "upsert": lambda table: fx.updates_rows(table, how="(upsert)"),
    "delete": fx.deletes_rows,
    "drop_table": fx.drops_table,
}
