"""alembic-postgresql-enum: ``op.sync_enum_values`` and ``op.add_enum_value``.

Read from alembic-postgresql-enum 1.11.0 (``operations/sync_enum_values.py``,
``operations/add_enum_values.py``, ``sql_commands/enum_type.py``) and its README,
which shows the revisions autogenerate writes; the positional form with
``(table, column)`` tuples of the 0.x releases binds to the same parameters. The
library registers both operations on Alembic's ``Operations`` when env.py imports it.

``add_enum_value(enum_schema, enum_name, new_value, before_value=None)`` runs one
``ALTER TYPE ... ADD VALUE``: no row changes, safe. (It cannot be used in the
transaction that adds it: transaction.py notes it as TX101.)

``sync_enum_values(enum_schema, enum_name, new_values, affected_columns,
enum_values_to_rename=(), indexes_to_recreate=None)`` renames the type to
``<name>_old``, creates the type again with ``new_values``, converts each affected
column with ``ALTER COLUMN ... TYPE <new> USING col::text::<new>`` (a CASE maps each
renamed value; defaults and dependent indexes are dropped and restored around it),
and drops the old type. So, for the rows:

- a value renamed by ``enum_values_to_rename`` is rewritten in every row that holds
  it: DS105, destructive (the rows now read the new name);
- a value removed (there before, not in ``new_values``, not renamed) makes the cast
  fail on the first row holding it; the library raises and the migration stops,
  having lost nothing: MF105, a may-fail warning;
- values added or reordered change no row: safe.

The values before the revision come from the opposite direction, where autogenerate
writes the reverse ``sync_enum_values`` (or, when upgrade() adds values with
``add_enum_value``, a ``sync_enum_values`` back to the old list). When they are not
stated there, MF105 says the operation may remove values. On a dialect other than
PostgreSQL both operations only log a warning (unless the library's
``force_dialect_support`` is set); the model does not count on that.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from .. import effects as fx
from ..effects import Effect
from ..frames import Args, Evaluator, Situation
from ..opcall import OpCall, OpModel, bind_arguments, signature_of
from ..recorder import EnumEvent
from ..values import UNKNOWN, Const, PluginObject, Seq, Value, options

PLUGIN = "alembic-postgresql-enum"
PACKAGE = "alembic_postgresql_enum"
_HOW = "(op.sync_enum_values, alembic-postgresql-enum)"


def _sync_enum_values(operations, enum_schema, enum_name, new_values, affected_columns,
                      enum_values_to_rename=(), indexes_to_recreate=None): ...


def _add_enum_value(operations, enum_schema, enum_name, new_value, before_value=None): ...


def _table_reference(self, table_name, column_name, table_schema=None, column_type=None,
                     existing_server_default=None): ...


_TABLE_REFERENCE = signature_of(_table_reference)


def _enum_name(c: OpCall) -> str:
    schema, name = _text(c.value("enum_schema")), _text(c.value("enum_name"))
    return f"{schema}.{name}" if schema and name else name or "<enum known only at run time>"


def _sync(c: OpCall) -> None:
    enum = _enum_name(c)
    columns = _columns(c.value("affected_columns"))
    renames = _renames(c.value("enum_values_to_rename"))
    if renames is None:
        c.emit(fx.unanalysable(f"the values op.sync_enum_values renames in {enum} cannot be read"))
        renames = []
    for old, new in renames:
        c.emit(fx.rewrites_enum_value(enum, old, new, columns, _HOW))
    c.interp.recorder.enum_events.append(EnumEvent(
        "sync", enum, _string_list(c.value("new_values")), tuple(old for old, _ in renames),
        columns, c.line))


def _add(c: OpCall) -> None:
    value = _text(c.value("new_value"))
    c.interp.recorder.enum_events.append(EnumEvent(
        "add", _enum_name(c), (value,) if value is not None else None, (), None, c.line))


OPERATIONS = {
    "sync_enum_values": OpModel(PLUGIN, signature_of(_sync_enum_values), handler=_sync),
    "add_enum_value": OpModel(PLUGIN, signature_of(_add_enum_value), handler=_add),
}

#: Names of the package that build plain values (no database involved).
_VALUES = frozenset({"ColumnType", "TableIndex", "Config", "set_configuration"})


def call(interp: Evaluator, dotted: str, args: Args, node: ast.Call, sit: Situation) -> Value | None:
    """A function or class of the package called in a revision; None when not modelled."""
    parts = dotted.split(".")
    if parts[-1] == "TableReference":
        bound = bind_arguments(_TABLE_REFERENCE, args) or {}
        return PluginObject("alembic_postgresql_enum.TableReference", tuple(bound.items()))
    if _VALUES.intersection(parts):
        return UNKNOWN
    return None


def removed_values(events: Iterable[EnumEvent], opposite: Iterable[EnumEvent]) -> list[tuple[Effect, int]]:
    """MF105 effects (with their lines) for the values each ``sync_enum_values`` of this
    direction removes, judged against the values the opposite direction states: its
    ``sync_enum_values`` lists them all, its ``add_enum_value`` calls name some."""
    listed: dict[str, set[str]] = {}
    added: dict[str, set[str]] = {}
    unreadable: set[str] = set()
    for event in opposite:
        if event.values is None:
            unreadable.add(event.enum)
        else:
            (listed if event.action == "sync" else added).setdefault(event.enum, set()).update(event.values)
    found = []
    for event in events:
        if event.action != "sync":
            continue
        kept = set(event.values or ()) | set(event.renamed_from)
        gone: list[str] | None = None
        if event.values is not None and event.enum not in unreadable:
            if event.enum in listed:
                gone = sorted(listed[event.enum] - kept)
            elif event.enum in added and added[event.enum] - kept:
                gone = sorted(added[event.enum] - kept)
        if gone is None or gone:
            found.append((fx.removes_enum_values(event.enum, gone, event.columns, _HOW), event.line))
    return found


# --- reading the arguments ---------------------------------------------------------------


def _text(value: Value | None) -> str | None:
    return value.value if isinstance(value, Const) and isinstance(value.value, str) else None


def _items(value: Value | None) -> list[Value] | None:
    if isinstance(value, Const) and isinstance(value.value, (list, tuple)):
        return [Const(v) for v in value.value]
    if isinstance(value, Seq) and value.exact:
        return list(value.items)
    return None


def _string_list(value: Value | None) -> tuple[str, ...] | None:
    items = _items(value)
    texts = [_text(i) for i in items] if items is not None else None
    return tuple(t for t in texts if t is not None) if texts is not None and None not in texts else None


def _renames(value: Value | None) -> list[tuple[str, str]] | None:
    """The (old, new) pairs; [] when none were passed; None when they cannot be read."""
    if value is None or value == Const(None):
        return []
    items = _items(value)
    if items is None:
        return None
    pairs = []
    for item in items:
        pair = _string_list(item)
        if pair is None or len(pair) != 2:
            return None
        pairs.append((pair[0], pair[1]))
    return pairs


def _columns(value: Value | None) -> str | None:
    """``table.column, ...`` for the affected columns, or None when unreadable."""
    items = _items(value)
    if not items:
        return None
    names = []
    for item in items:
        reference = next((o for o in options(item) if isinstance(o, PluginObject)), None)
        if reference is not None:
            table, column = _text(reference.field("table_name")), _text(reference.field("column_name"))
        else:
            pair = _string_list(item)
            table, column = (pair[0], pair[1]) if pair and len(pair) >= 2 else (None, None)
        if table is None or column is None:
            return None
        names.append(f"{table}.{column}")
    return ", ".join(names)
