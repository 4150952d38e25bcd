"""SQLAlchemy (and SQLModel) as the static analysis sees it.

Core: ``sa.table``/``sa.Table`` name tables; ``update()``/``delete()`` (as functions
or table methods) build statements whose effect counts when they are executed.
ORM: a Session over the migration's connection; ``query(...).delete()`` and
``.update()`` write at once, and setting an attribute of an instance loaded from
the database writes at the next flush. Connections, inspectors and dialects are
:class:`Handle` values; whatever they read from the database is run-time data.
"""

from __future__ import annotations

import ast
from dataclasses import replace

from . import conditions, execution
from . import effects as fx
from .frames import Args, Evaluator, Scope, Situation
from .types import type_key, type_text
from .values import (
    BIND,
    SESSION,
    UNKNOWN,
    ColumnSpec,
    Const,
    CoreStatement,
    Handle,
    Library,
    LocalClass,
    LocalFunction,
    OrmEntity,
    OrmInstance,
    Query,
    RuntimeData,
    SqlText,
    TableRef,
    Value,
    choice,
    is_runtime,
    options,
    strings,
)

INSPECTOR = Handle("inspector")
CONTEXT = Handle("context")
DIALECT = Handle("dialect")
SESSION_FACTORY = Handle("session_factory")

_STATEMENT_FUNCTIONS = frozenset({"update", "delete", "insert", "select"})
_QUERY_CHAIN = frozenset({
    "filter", "filter_by", "where", "join", "outerjoin", "order_by", "limit", "offset",
    "options", "distinct", "group_by", "having", "select_from", "with_for_update",
    "execution_options", "yield_per", "enable_eagerloads", "populate_existing", "params",
})
_ROWS = frozenset({"all", "fetchall", "fetchmany", "scalars", "mappings", "partitions", "unique", "__iter__"})
_ONE_ROW = frozenset({"first", "one", "one_or_none", "scalar_one", "scalar_one_or_none", "fetchone", "get"})
_CONNECTION_METHODS = frozenset({
    "connect", "begin", "begin_nested", "execution_options", "get_bind", "cursor",
    "raw_connection", "connection",
})
_EXECUTING = frozenset({"execute", "exec_driver_sql", "executemany", "scalar", "scalars", "scalar_one"})


def name_text(value: Value | None) -> str | None:
    """A table/column name value as text: ``a`` or ``a, b, c``; None when not known."""
    if value is None:
        return None
    if isinstance(value, TableRef):
        value = value.name
    names = strings(value)
    return ", ".join(dict.fromkeys(names)) if names else None


def table_of(value: Value) -> Value:
    """The table name a Core table, mapped class or string stands for."""
    found = []
    for option in options(value):
        if isinstance(option, TableRef):
            found.append(option.name)
        elif isinstance(option, (OrmEntity, OrmInstance)):
            found.append(option.table)
        elif isinstance(option, Const) and isinstance(option.value, str):
            found.append(option)
        else:
            found.append(UNKNOWN)
    return choice(found)


def entered(value: Value) -> Value:
    """What ``with value as x`` binds to ``x``."""
    if value == SESSION_FACTORY:
        return SESSION
    return value


# --- classes defined in the revision -------------------------------------------------------


def class_value(interp: Evaluator, node: ast.ClassDef, scope: Scope, sit: Situation) -> Value:
    """A mapped entity (``__tablename__``/``__table__``) or a plain local class."""
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in {"__tablename__", "__table__"} for t in stmt.targets
        ):
            value = interp.eval(stmt.value, scope, sit)
            return OrmEntity(value.name if isinstance(value, TableRef) else value)
    for base in node.bases:
        parent = interp.eval(base, scope, sit)
        if isinstance(parent, OrmEntity):
            return parent  # single-table inheritance: same table
    return LocalClass(node)


def class_attribute(cls: LocalClass, attr: str) -> Value:
    """A method of a local class, followed like any local function."""
    for stmt in cls.node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == attr:
            return LocalFunction(stmt)
    return UNKNOWN


# --- attributes -------------------------------------------------------------------------------


def attribute(base: Value, attr: str) -> Value:
    """``base.attr`` for SQLAlchemy objects and run-time data."""
    if isinstance(base, Handle):
        return _handle_attribute(base, attr)
    if isinstance(base, RuntimeData):
        return RuntimeData(base.source)
    if isinstance(base, OrmInstance) and base.persistent:
        return RuntimeData(f"{name_text(base.table) or 'rows'} loaded through the ORM")
    if isinstance(base, OrmEntity) and attr == "__table__":
        return TableRef(base.table)
    if isinstance(base, OrmEntity) and attr == "__tablename__":
        return base.table
    if isinstance(base, TableRef) and attr in {"name", "fullname"}:
        return base.name
    return UNKNOWN


def _handle_attribute(base: Handle, attr: str) -> Value:
    if base.role in {"bind", "context", "session"}:
        if attr == "dialect":
            return DIALECT
        if attr in {"bind", "connection", "engine"}:
            return BIND
    if base.role == "dialect" and attr == "name":
        return conditions.DIALECT_NAME
    return UNKNOWN


# --- functions ---------------------------------------------------------------------------------


def call_function(interp: Evaluator, callee: Library, args: Args, node: ast.Call,
                  sit: Situation) -> Value:
    """A SQLAlchemy/SQLModel/alembic function or class called directly."""
    leaf, first = callee.leaf, (args.positional[0] if args.positional else UNKNOWN)
    if leaf in {"table", "Table", "TableClause"}:
        return TableRef(first)
    if leaf == "Column":
        return column_spec(args)
    if leaf in {"text", "DDL"}:
        return SqlText(first)
    if leaf in _STATEMENT_FUNCTIONS:
        return CoreStatement(leaf, table_of(first))
    if leaf == "DropTable":
        return CoreStatement("drop_table", table_of(first))
    if leaf == "DropSchema":
        return CoreStatement("drop_schema", first)
    if leaf in {"inspect", "from_engine"}:
        return UNKNOWN if isinstance(first, (OrmEntity, OrmInstance)) else INSPECTOR
    if leaf in {"Session", "AsyncSession", "scoped_session"}:
        return SESSION
    if leaf in {"sessionmaker", "async_sessionmaker"}:
        return SESSION_FACTORY
    if leaf in {"create_engine", "engine_from_config", "create_async_engine"}:
        return BIND
    if callee.dotted in {"alembic.context.get_context", "alembic.op.get_context"}:
        return CONTEXT
    interp.invoke_passed_callables(args, node, sit)
    return UNKNOWN


def column_spec(args: Args) -> ColumnSpec:
    """``sa.Column(name, type, *constraints, nullable=..., server_default=...)``."""
    positional, nodes = list(args.positional), list(args.positional_nodes)
    name: Value = UNKNOWN
    if positional and isinstance(positional[0], Const) and isinstance(positional[0].value, str):
        name, positional, nodes = positional[0], positional[1:], nodes[1:]
    type_node = args.keyword_nodes.get("type_") or next(
        (n for n in nodes if not _is_column_extra(n)), None
    )
    fills = any(_leaf(n) in {"Computed", "Identity"} for n in nodes)
    server_default = args.keywords.get("server_default")
    return ColumnSpec(
        name=name,
        type_key=type_key(type_node),
        type_text=type_text(type_node),
        nullable=args.keywords.get("nullable", Const(True)),
        has_server_default=fills or (server_default is not None and server_default != Const(None)),
        primary_key=args.keywords.get("primary_key") == Const(True),
    )


def _leaf(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else None


def _is_column_extra(node: ast.expr) -> bool:
    return _leaf(node) in {"ForeignKey", "Sequence", "Computed", "Identity", "CheckConstraint",
                           "UniqueConstraint", "Index"}


def call_handle(interp: Evaluator, handle: Handle, args: Args, node: ast.Call, sit: Situation) -> Value:
    """Calling a handle itself: ``Session = sessionmaker(...); session = Session()``."""
    return SESSION if handle == SESSION_FACTORY else UNKNOWN


# --- methods ---------------------------------------------------------------------------------


def call_method(interp: Evaluator, receiver: Value, name: str, args: Args, node: ast.Call,
                sit: Situation) -> Value | None:
    """``receiver.name(...)`` for SQLAlchemy objects; None when not a SQLAlchemy object."""
    if isinstance(receiver, Handle):
        return _handle_method(interp, receiver, name, args, node, sit)
    if isinstance(receiver, TableRef):
        if name in _STATEMENT_FUNCTIONS:
            return CoreStatement(name, receiver.name)
        return receiver if name == "alias" else UNKNOWN
    if isinstance(receiver, CoreStatement):
        if name in {"on_conflict_do_update", "on_duplicate_key_update"}:
            return CoreStatement("upsert", receiver.table)
        return receiver
    if isinstance(receiver, SqlText):
        return UNKNOWN if name == "compile" else receiver
    if isinstance(receiver, Query):
        return _query_method(interp, receiver, name, node, sit)
    if isinstance(receiver, RuntimeData):
        return _rows_method(receiver, name)
    if isinstance(receiver, (OrmInstance, OrmEntity)):
        return UNKNOWN
    return None


def _handle_method(interp: Evaluator, handle: Handle, name: str, args: Args, node: ast.Call,
                   sit: Situation) -> Value:
    first = args.positional[0] if args.positional else UNKNOWN
    role = handle.role
    if role in {"inspector", "dialect"}:
        return RuntimeData(f"the live catalog ({role}.{name}())")
    if role == "session":
        return _session_method(interp, name, args, node, sit)
    if role == "session_factory":
        return SESSION if name in {"begin", "__call__"} else UNKNOWN
    if name in _EXECUTING and args.positional:
        return execution.execute(interp, first, node, sit)
    if name in _CONNECTION_METHODS:
        return BIND
    if name == "get_context":
        return CONTEXT
    if name == "connection" and role == "context":
        return BIND
    return UNKNOWN


def _session_method(interp: Evaluator, name: str, args: Args, node: ast.Call, sit: Situation) -> Value:
    first = args.positional[0] if args.positional else UNKNOWN
    if name == "query":
        return Query(table_of(first))
    if name in _EXECUTING and args.positional:
        result = execution.execute(interp, first, node, sit)
        selected = [o for o in options(first) if isinstance(o, CoreStatement) and o.kind == "select"]
        return RuntimeData("query results", selected[0].table) if selected else result
    if name == "get":
        return OrmInstance(table_of(first), persistent=True)
    # Deleting or merging loaded instances is an ORM write of known rows, like
    # setting their attributes: not UN101 even inside a loop over query results.
    row_write = replace(sit, runtime_reason=None) if _holds_loaded_rows(first) else sit
    if name == "delete":
        interp.emit(fx.deletes_rows(name_text(table_of(first)), how="deletes a row through the ORM from"),
                    node, row_write)
    elif name == "merge":
        interp.emit(fx.updates_rows(name_text(table_of(first)), how="through the ORM (session.merge)"),
                    node, row_write)
    elif name == "bulk_update_mappings":
        interp.emit(fx.updates_rows(name_text(table_of(first)), how="through the ORM (bulk_update_mappings)"),
                    node, sit)
    elif name == "bulk_save_objects" and _holds_loaded_rows(first):
        interp.emit(fx.updates_rows(None, how="through the ORM (bulk_save_objects)"), node, sit)
    elif name in {"connection", "get_bind"}:
        return BIND
    return UNKNOWN


def _holds_loaded_rows(value: Value) -> bool:
    return is_runtime(value) or any(isinstance(o, OrmInstance) and o.persistent for o in options(value))


def _query_method(interp: Evaluator, query: Query, name: str, node: ast.Call, sit: Situation) -> Value:
    table = name_text(query.entity_table)
    if name == "delete":
        interp.emit(fx.deletes_rows(table, how="deletes rows through the ORM (query.delete()) from"), node, sit)
        return RuntimeData("query results")
    if name == "update":
        interp.emit(fx.updates_rows(table, how="through the ORM (query.update())"), node, sit)
        return RuntimeData("query results")
    if name in _QUERY_CHAIN:
        return query
    if name in _ONE_ROW:
        return OrmInstance(query.entity_table, persistent=True)
    if name in _ROWS:
        return RuntimeData("query results", query.entity_table)
    return RuntimeData("query results")


def _rows_method(rows: RuntimeData, name: str) -> Value:
    if name in _ROWS:
        return RuntimeData(rows.source, rows.entity)
    if name in _ONE_ROW and rows.entity is not None:
        return OrmInstance(rows.entity, persistent=True)
    return RuntimeData(rows.source)
