"""GeoAlchemy2's Alembic helpers: the ``*_geospatial_*`` operations.

Read from GeoAlchemy2 0.21.0 (``geoalchemy2/alembic_helpers.py``) and its "Use
Alembic" documentation: with ``process_revision_directives=alembic_helpers.writer``
in env.py, autogenerate writes ``op.create_geospatial_table``,
``op.add_geospatial_column``, ``op.create_geospatial_index`` and their drops in
place of Alembic's own operations, which ``alembic_helpers`` registers on
``Operations`` (and the column and index ones on ``BatchOperations``).

Each is Alembic's operation with spatial bookkeeping around it: on PostgreSQL the
plugin calls Alembic's own ``add_column``/``drop_column``/``create_table``/
``drop_table``/``create_index``/``drop_index``; on SQLite it uses SpatiaLite's
``AddGeometryColumn``, ``CreateSpatialIndex``, ``DisableSpatialIndex`` and compiles
drops and renames of spatial tables to ``SELECT DropTable(...)``/``RenameTable(...)``.
What reaches existing data is the same as the Alembic operation's, so each is judged
by that operation's rule (a dropped column is DS103, a NOT NULL column added to an
existing table is MF103...). ``create_geospatial_constraints`` and
``drop_geospatial_constraints`` only manage SQL Server's spatial metadata constraints.

PostGIS is not needed to read these: the model is source-based. The same module
names the spatial SQL functions that drop or rename data when a revision calls them
in SQL (``SELECT DropGeometryColumn('lake', 'geom')``).
"""

from __future__ import annotations

from .. import effects as fx
from ..effects import Effect
from ..opcall import OpModel, signature_of

PLUGIN = "GeoAlchemy2"


def _add_geospatial_column(operations, table_name, column, schema=None): ...
def _drop_geospatial_column(operations, table_name, column_name, schema=None, **kw): ...
def _create_geospatial_table(operations, table_name, *columns, **kw): ...
def _drop_geospatial_table(operations, table_name, schema=None, **kw): ...
def _create_geospatial_index(operations, index_name, table_name, columns, schema=None, unique=False,
                             **kw): ...
def _drop_geospatial_index(operations, index_name, table_name, column_name, schema=None, unique=False,
                           **kw): ...
def _geospatial_constraints(operations, table_name, column, schema=None): ...
def _batch_add_geospatial_column(operations, column, insert_before=None, insert_after=None): ...
def _batch_drop_geospatial_column(operations, column_name, **kw): ...
def _batch_create_geospatial_index(operations, index_name, columns, **kw): ...
def _batch_drop_geospatial_index(operations, index_name, **kw): ...


def _nothing(c) -> None:
    return None


OPERATIONS = {
    "add_geospatial_column": OpModel(PLUGIN, signature_of(_add_geospatial_column), same_as="add_column",
                                     batch_signature=signature_of(_batch_add_geospatial_column)),
    "drop_geospatial_column": OpModel(PLUGIN, signature_of(_drop_geospatial_column), same_as="drop_column",
                                      generic=lambda: fx.drops_column(None, None),
                                      batch_signature=signature_of(_batch_drop_geospatial_column)),
    "create_geospatial_table": OpModel(PLUGIN, signature_of(_create_geospatial_table),
                                       same_as="create_table"),
    "drop_geospatial_table": OpModel(PLUGIN, signature_of(_drop_geospatial_table), same_as="drop_table",
                                     generic=lambda: fx.drops_table(None)),
    "create_geospatial_index": OpModel(PLUGIN, signature_of(_create_geospatial_index),
                                       same_as="create_index",
                                       batch_signature=signature_of(_batch_create_geospatial_index)),
    "drop_geospatial_index": OpModel(PLUGIN, signature_of(_drop_geospatial_index), handler=_nothing,
                                     batch_signature=signature_of(_batch_drop_geospatial_index)),
    "create_geospatial_constraints": OpModel(PLUGIN, signature_of(_geospatial_constraints),
                                             handler=_nothing),
    "drop_geospatial_constraints": OpModel(PLUGIN, signature_of(_geospatial_constraints),
                                           handler=_nothing),
}


def _drop_column(args: list[str]) -> Effect | None:
    # DropGeometryColumn([[catalog,] schema,] table, column): PostGIS and SpatiaLite.
    return fx.drops_column(args[-2], args[-1]) if len(args) >= 2 else fx.drops_column(None, None)


def _drop_table(args: list[str]) -> Effect | None:
    # PostGIS DropGeometryTable([[catalog,] schema,] table); SpatiaLite DropTable(db, table)
    # and DropGeoTable(table). The database prefix is NULL, not a string, so the
    # table is the last string argument either way.
    return fx.drops_table(args[-1] if args else None)


def _rename_table(args: list[str]) -> Effect | None:
    # SpatiaLite RenameTable(db, old, new).
    return fx.renames_table(*args[-2:]) if len(args) >= 2 else fx.renames_table(None, None)


def _rename_column(args: list[str]) -> Effect | None:
    # SpatiaLite RenameColumn(db, table, old, new).
    return fx.renames_column(*args[-3:]) if len(args) >= 3 else fx.renames_column(None, None, None)


#: Spatial SQL functions that drop or rename data, by lower-cased name, with what a
#: call does given its string arguments. (AddGeometryColumn, CreateSpatialIndex,
#: DiscardGeometryColumn and RecoverGeometryColumn change no rows.)
SQL_FUNCTIONS = {
    "dropgeometrycolumn": _drop_column,
    "dropgeometrytable": _drop_table,
    "droptable": _drop_table,
    "dropgeotable": _drop_table,
    "renametable": _rename_table,
    "renamecolumn": _rename_column,
}
