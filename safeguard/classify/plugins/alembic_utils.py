"""alembic_utils: ``op.create_entity``, ``op.replace_entity`` and ``op.drop_entity``.

Read from alembic_utils 0.8.8 (``reversible_op.py`` and one module per entity class)
and its README, which shows the revisions autogenerate writes: the entity built in
the function (``PGView(schema=..., signature=..., definition=...)``), then
``op.create_entity(entity)``. The library registers the three operations on
Alembic's ``Operations`` when env.py imports it. What each one executes:

- ``create_entity``: the entity's CREATE statement (``CREATE VIEW``, ``CREATE
  MATERIALIZED VIEW ... WITH [NO] DATA``, ``CREATE FUNCTION``, ``CREATE [CONSTRAINT]
  TRIGGER``, ``CREATE POLICY``, ``CREATE EXTENSION``, ``GRANT``);
- ``replace_entity``: ``CREATE OR REPLACE`` where PostgreSQL has it (a view falls
  back to DROP VIEW + CREATE VIEW inside a DO block), else a drop and a create
  (materialized views, triggers, policies), or REVOKE + GRANT;
- ``drop_entity(entity, cascade=False)``: the entity's DROP (``REVOKE`` for a grant),
  with CASCADE when asked.

None of these writes a table's rows: views, functions, triggers and policies are
schema objects, and a materialized view's rows are derived from its query (dropping
and re-creating it recomputes them). Creating a function whose body changes data
changes nothing until it is called (a call later in the same revision counts the
body: sql.py). The one exception is ``drop_entity`` of an
extension with ``cascade=True``: PostgreSQL then drops every column of a type the
extension defines (a PostGIS ``geometry`` column, a citext column): DS103. An entity
the classifier cannot identify (imported from the application) is assumed to be able
to be an extension there.
"""

from __future__ import annotations

import ast
from typing import TypeGuard

from .. import effects as fx
from ..frames import Args, Evaluator, Situation
from ..opcall import OpCall, OpModel, bind_arguments, signature_of
from ..values import UNKNOWN, Const, PluginObject, Value, options

PLUGIN = "alembic_utils"
PACKAGE = "alembic_utils"
_EXTENSION = "alembic_utils.PGExtension"


def _entity(self, schema, signature, definition=None, *args, **kwargs): ...


def _target(operations, target): ...


def _drop_target(operations, target, cascade=False): ...


#: The entity classes and what they create, by class name (each lives in its own
#: module: alembic_utils.pg_view.PGView, alembic_utils.pg_function.PGFunction...).
ENTITIES = {
    "PGView": "view", "PGMaterializedView": "materialized view", "PGFunction": "function",
    "PGTrigger": "trigger", "PGPolicy": "policy", "PGExtension": "extension",
    "PGGrantTable": "grant",
}
_ENTITY = signature_of(_entity)


def _schema_object(c: OpCall) -> None:
    """Views, functions, triggers, policies, grants: no table rows. A function's body
    is kept, for a call later in the revision (sql.py judges it there)."""
    for option in options(c.value("target") or UNKNOWN):
        if isinstance(option, PluginObject) and option.kind == "alembic_utils.PGFunction":
            signature, definition = option.field("signature"), option.field("definition")
            if _is_text(signature) and _is_text(definition):
                _remember_function(c, f"CREATE OR REPLACE FUNCTION {signature.value} {definition.value}")


def _remember_function(c: OpCall, create: str) -> None:
    # What create_entity executes, as alembic_utils writes it (pg_function.py).
    from ..statements import SqlUnreadable, split_statements

    try:
        statements = split_statements(create, "postgres")
    except SqlUnreadable:
        return
    routine = statements[0].created_routine() if statements else None
    if routine is not None:
        c.schema.routine_created(*routine)


def _is_text(value: Value | None) -> TypeGuard[Const]:
    return isinstance(value, Const) and isinstance(value.value, str)


def _drop(c: OpCall) -> None:
    cascade = c.value("cascade")
    if cascade is None or cascade in (Const(False), Const(None), Const(0)):
        return  # without CASCADE, a DROP that other objects depend on fails
    target = c.value("target") or UNKNOWN
    kinds = [o.kind if isinstance(o, PluginObject) else None for o in options(target)]
    if _EXTENSION in kinds:
        c.emit(fx.drops_dependent_columns(f"extension {_identity(target)} (op.drop_entity)"))
    elif None in kinds:
        c.emit(fx.drops_dependent_columns(
            "an entity the classifier cannot identify (op.drop_entity, alembic_utils: if it is "
            "an extension)"))


OPERATIONS = {
    "create_entity": OpModel(PLUGIN, signature_of(_target), handler=_schema_object),
    "replace_entity": OpModel(PLUGIN, signature_of(_target), handler=_schema_object),
    "drop_entity": OpModel(PLUGIN, signature_of(_drop_target), handler=_drop),
}


def call(interp: Evaluator, dotted: str, args: Args, node: ast.Call, sit: Situation) -> Value | None:
    """An entity built in the revision (``PGView(...)``, ``PGFunction.from_sql(...)``);
    None for anything else of the package (not modelled)."""
    parts = dotted.split(".")
    entity = next((p for p in reversed(parts) if p in ENTITIES), None)
    if entity is None:
        return None
    fields = bind_arguments(_ENTITY, args) if parts[-1] == entity else None
    return PluginObject(f"alembic_utils.{entity}", tuple((fields or {}).items()))


def _identity(target: Value) -> str:
    for option in options(target):
        if isinstance(option, PluginObject):
            name = option.field("signature")
            if isinstance(name, Const) and isinstance(name.value, str):
                return name.value
    return "<name known only at run time>"
