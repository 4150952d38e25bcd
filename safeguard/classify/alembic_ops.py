"""What each ``op.*`` and ``batch_op.*`` call does to existing data.

Arguments are bound with the installed Alembic's own method signatures, so
positional and keyword spellings are read the same way Alembic reads them. An
operation Alembic does not have may be one a plugin registers: plugins/ models the
common ones.
"""

from __future__ import annotations

import ast
import functools
import inspect
from collections.abc import Callable

from alembic.operations import BatchOperations, Operations

from . import effects as fx
from . import execution, plugins
from .effects import Effect
from .frames import Args, Evaluator, Situation
from .opcall import OpCall, OpModel, bind
from .recorder import ColumnEvent
from .types import type_text
from .values import (
    BIND,
    UNKNOWN,
    BatchOps,
    ColumnSpec,
    Const,
    Handle,
    LocalFunction,
    OpMethod,
    TableRef,
    Value,
    choice,
)

#: Alembic's operations and the modelled plugins' (a plugin imported in this process
#: adds its own to ``Operations``; listing the modelled ones keeps this the same
#: whichever were imported).
OP_METHODS = frozenset(n for n in dir(Operations) if not n.startswith("_")) | frozenset(plugins.OPERATIONS)

#: Operations that lose no rows and cannot fail on existing data (for this
#: classifier's codes): constraints other than unique, indexes dropped, comments.
_HARMLESS = frozenset({
    "create_foreign_key", "create_check_constraint", "create_exclude_constraint",
    "drop_constraint", "drop_index", "create_table_comment", "drop_table_comment",
    "implementation_for", "register_operation",
})

#: What an op does when its arguments cannot be read (a ``*args`` call, a method
#: picked by getattr from a plan list): the code is certain, the names are not.
_GENERIC: dict[str, Callable[[], Effect]] = {
    "drop_table": lambda: fx.drops_table(None),
    "drop_column": lambda: fx.drops_column(None, None),
    "rename_table": lambda: fx.renames_table(None, None),
    "create_unique_constraint": lambda: fx.adds_unique(None, None),
    "create_primary_key": lambda: fx.adds_unique(None, None, what="primary key"),
}


def method_names_in(tree: ast.Module) -> tuple[str, ...]:
    """String constants anywhere in the module that name op methods.

    When a revision picks its operation with ``getattr(op, name)`` and the name
    cannot be followed, these are the operations it may be calling.
    """
    found = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in OP_METHODS
    }
    return tuple(sorted(found))


@functools.cache
def _signature(batch: bool, name: str) -> inspect.Signature | None:
    owner = BatchOperations if batch else Operations
    method = getattr(owner, name, None)
    try:
        return inspect.signature(method) if callable(method) else None
    except (TypeError, ValueError):
        return None


def call(interp: Evaluator, receiver: Value, name: str, args: Args, node: ast.Call,
         sit: Situation) -> Value:
    """``op.name(...)`` or ``batch_op.name(...)``."""
    batch = isinstance(receiver, BatchOps)
    simple = _SIMPLE.get(name)
    if simple is not None:
        return simple(interp, args, node, sit)
    handler = _HANDLERS.get(name)
    if handler is None:
        model = plugins.operation(name, batch)
        if model is not None:
            return _call_model(interp, receiver, name, model, args, node, sit)
        if name not in _HARMLESS:
            interp.emit(fx.unanalysable(f"calls op.{name}, an operation the classifier does not know"), node, sit)
        return UNKNOWN
    bound = _bind(interp, receiver, name, args, node, sit)
    if bound is None:
        interp.emit(fx.unanalysable(f"the arguments of {'batch_op' if batch else 'op'}.{name} cannot be read"),
                    node, sit)
        if name in _GENERIC:
            interp.emit(_GENERIC[name](), node, sit)
        return UNKNOWN
    return handler(bound) or UNKNOWN


def _call_model(interp: Evaluator, receiver: Value, name: str, model: OpModel, args: Args,
                node: ast.Call, sit: Situation) -> Value:
    """A plugin's operation, by its model (plugins/)."""
    batch = isinstance(receiver, BatchOps)
    signature = model.batch_signature if batch and model.batch_signature else model.signature
    bound = bind(interp, receiver, signature, name, args, node, sit)
    if bound is None:
        interp.emit(fx.unanalysable(f"the arguments of {'batch_op' if batch else 'op'}.{name} "
                                    f"({model.plugin}) cannot be read"), node, sit)
        if model.generic is not None:
            interp.emit(model.generic(), node, sit)
        return UNKNOWN
    handler = model.handler or _HANDLERS[model.same_as or ""]
    return handler(bound) or UNKNOWN


def call_method_value(interp: Evaluator, method: OpMethod, args: Args, node: ast.Call,
                      sit: Situation) -> Value:
    """Calling an op method held in a variable, or picked with getattr."""
    if method.dynamic:
        interp.emit(fx.unanalysable("the operation is chosen at run time with getattr(op, ...)"), node, sit)
    return choice([call(interp, method.receiver, name, args, node, sit) for name in method.names])


def _bind(interp: Evaluator, receiver: Value, name: str, args: Args, node: ast.Call,
          sit: Situation) -> OpCall | None:
    signature = _signature(isinstance(receiver, BatchOps), name)
    if signature is None:
        return None
    return bind(interp, receiver, signature, name, args, node, sit)


# --- handlers -------------------------------------------------------------------------------


def _add_column(c: OpCall) -> None:
    spec = c.value("column")
    if not isinstance(spec, ColumnSpec):
        return
    table, column = c.text("table_name"), c.interp.name(spec.name, c.node, c.sit, "column")
    new_table = c.schema.is_new_table(table)
    c.schema.column_added(table, column)
    if table and column:
        c.interp.recorder.column_event(ColumnEvent("add", table, column, spec.type_key, c.line))
    not_null = spec.primary_key or spec.nullable != Const(True) and spec.nullable != Const(None)
    if not_null and not spec.has_server_default and not new_table:
        c.emit(fx.adds_not_null_column(table, column))


def _alter_column(c: OpCall) -> None:
    table, column = c.text("table_name"), c.text("column_name", "column")
    if c.given("new_column_name"):
        c.emit(fx.renames_column(table, column, c.text("new_column_name", "column")))
    if c.schema.is_new_table(table):
        return
    if c.given("type_"):
        old = type_text(c.source_of("existing_type")) if c.given("existing_type") else None
        c.emit(fx.changes_type(table, column, old, type_text(c.source_of("type_"))))
    if c.given("nullable") and c.value("nullable") != Const(True):
        c.emit(fx.sets_not_null(table, column))


def _drop_column(c: OpCall) -> None:
    table, column = c.text("table_name"), c.text("column_name", "column")
    if table and column:
        c.interp.recorder.column_event(ColumnEvent("drop", table, column, None, c.line))
    if not c.schema.is_new_column(table, column):
        c.emit(fx.drops_column(table, column))


def _drop_table(c: OpCall) -> None:
    table = c.text("table_name")
    if not c.schema.is_new_table(table):
        c.emit(fx.drops_table(table))
    c.schema.table_dropped(table)


def _rename_table(c: OpCall) -> None:
    old, new = c.text("old_table_name"), c.text("new_table_name")
    c.emit(fx.renames_table(old, new))
    c.schema.table_renamed(old, new)


def _create_table(c: OpCall) -> Value:
    c.schema.table_created(c.text("table_name"))
    return TableRef(c.value("table_name") or UNKNOWN)


def _create_index(c: OpCall) -> None:
    unique = c.value("unique")
    if unique in (None, Const(False), Const(None)):
        return
    table = c.text("table_name")
    if not c.schema.is_new_table(table):
        c.emit(fx.adds_unique(table, _columns(c.value("columns")), what="unique index"))


def _create_unique(c: OpCall) -> None:
    table = c.text("table_name")
    if not c.schema.is_new_table(table):
        what = "primary key" if c.name == "create_primary_key" else "unique constraint"
        c.emit(fx.adds_unique(table, _columns(c.value("columns")), what=what))


def _columns(value: Value | None) -> str | None:
    if isinstance(value, Const) and isinstance(value.value, (list, tuple)):
        return ", ".join(str(v) for v in value.value)
    return None


def _execute(c: OpCall) -> None:
    execution.execute(c.interp, c.value("sqltext") or UNKNOWN, c.node, c.sit)


def _batch_alter_table(c: OpCall) -> Value:
    return BatchOps(c.value("table_name") or UNKNOWN)


def _bulk_insert(c: OpCall) -> None:
    return None  # inserting rows loses none


_HANDLERS: dict[str, Callable[[OpCall], Value | None]] = {
    "add_column": _add_column,
    "alter_column": _alter_column,
    "drop_column": _drop_column,
    "drop_table": _drop_table,
    "rename_table": _rename_table,
    "create_table": _create_table,
    "create_index": _create_index,
    "create_unique_constraint": _create_unique,
    "create_primary_key": _create_unique,
    "execute": _execute,
    "batch_alter_table": _batch_alter_table,
    "bulk_insert": _bulk_insert,
}


# --- calls that need no binding ---------------------------------------------------------


def _first(interp, args, node, sit) -> Value:
    return args.positional[0] if args.positional else UNKNOWN


def _invoke(interp, args, node, sit) -> Value:
    interp.emit(fx.unanalysable("op.invoke() runs an operation object the classifier does not read"), node, sit)
    return UNKNOWN


def _run_async(interp, args, node, sit) -> Value:
    # op.run_async(fn, *args) calls fn(connection, *args).
    if args.positional and isinstance(args.positional[0], LocalFunction):
        forwarded = Args([BIND, *args.positional[1:]], dict(args.keywords), [], {})
        return interp.call_local(args.positional[0], forwarded, node, sit)
    interp.emit(fx.unanalysable("op.run_async() runs a function the classifier cannot follow"), node, sit)
    return UNKNOWN


_SIMPLE: dict[str, Callable[..., Value]] = {
    "get_bind": lambda interp, args, node, sit: BIND,
    "get_context": lambda interp, args, node, sit: Handle("context"),
    "inline_literal": _first,
    "f": _first,
    "invoke": _invoke,
    "run_async": _run_async,
}
