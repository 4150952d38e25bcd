"""Models of common Alembic plugins: what their operations do to existing data.

A revision that calls a plugin's operation (``op.sync_enum_values``,
``op.create_entity``, ``sqlalchemy_searchable.sync_trigger(...)``,
``op.add_geospatial_column``) is judged by that plugin's model instead of being
UN101. Each model is written from the plugin's own source and documentation, names
the versions it was read from, and is tested against what the installed plugin
really emits (tests/test_classify_plugins.py):

====================  ======================================================
module                plugin
====================  ======================================================
postgresql_enum       alembic-postgresql-enum (enum values kept in sync)
alembic_utils         alembic_utils (views, functions, triggers, policies...)
searchable            SQLAlchemy-Searchable (full-text search triggers)
geoalchemy            GeoAlchemy2's Alembic helpers (spatial columns, tables)
====================  ======================================================

The classifier never imports a plugin. Its operations are recognised by name: a
plugin registers them on Alembic's ``Operations`` when env.py imports it, so the
revision itself need not import anything. Its functions and objects are recognised
by the dotted path the revision imports them from; a name of a modelled package that
no model describes is treated like any other code out of sight (UN101 when it is
handed the database or called for its effect).
"""

from __future__ import annotations

import ast

from ..frames import Args, Evaluator, Situation
from ..opcall import OpModel
from ..values import Value
from . import alembic_utils, geoalchemy, postgresql_enum, searchable

OPERATIONS: dict[str, OpModel] = {
    **postgresql_enum.OPERATIONS,
    **alembic_utils.OPERATIONS,
    **geoalchemy.OPERATIONS,
}
#: The top-level packages whose functions and objects a model describes.
PACKAGES = frozenset({postgresql_enum.PACKAGE, alembic_utils.PACKAGE, searchable.PACKAGE})
#: Spatial SQL functions that drop or rename data (see geoalchemy.py).
SQL_FUNCTIONS = geoalchemy.SQL_FUNCTIONS

_CALLS = {
    postgresql_enum.PACKAGE: postgresql_enum.call,
    alembic_utils.PACKAGE: alembic_utils.call,
    searchable.PACKAGE: searchable.call,
}


def operation(name: str, batch: bool) -> OpModel | None:
    """The model of ``op.<name>`` (``batch_op.<name>`` when ``batch``), or None."""
    model = OPERATIONS.get(name)
    if model is None or (batch and model.batch_signature is None):
        return None
    return model


def value_of(dotted: str) -> Value | None:
    """What a name imported from a modelled package is, when a model says
    (``sqlalchemy_searchable.sql_expressions``); None otherwise."""
    return searchable.value_of(dotted)


def call(interp: Evaluator, dotted: str, args: Args, node: ast.Call, sit: Situation) -> Value | None:
    """The value of calling ``dotted`` from a modelled package (recording its effects);
    None when no model describes it."""
    handler = _CALLS.get(dotted.split(".", 1)[0])
    return handler(interp, dotted, args, node, sit) if handler else None
