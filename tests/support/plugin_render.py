"""Render plugin operations with the plugins' own autogenerate renderers, as
`alembic revision --autogenerate` writes them into a revision file.

Run as a process by tests/test_classify_plugins.py (importing the plugins registers
their operations and renderers with Alembic, in this process only):

    python tests/support/plugin_render.py

Prints one JSON object: ``{case: {"imports": [str], "upgrade": str, "downgrade": str}}``,
each body indented as a function body.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic.autogenerate import render
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from alembic_postgresql_enum import TableReference
from alembic_postgresql_enum.operations import AddEnumValuesOp, SyncEnumValuesOp
from alembic_utils.pg_extension import PGExtension
from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_grant_table import PGGrantTable
from alembic_utils.pg_materialized_view import PGMaterializedView
from alembic_utils.pg_policy import PGPolicy
from alembic_utils.pg_trigger import PGTrigger
from alembic_utils.pg_view import PGView
from alembic_utils.reversible_op import CreateOp, ReplaceOp
from geoalchemy2 import Geometry, alembic_helpers


def rendered(upgrade: list[ops.MigrateOperation], downgrade: list[ops.MigrateOperation] | None = None) -> dict:
    opts = {"render_item": alembic_helpers.render_item, "sqlalchemy_module_prefix": "sa.",
            "alembic_module_prefix": "op.", "user_module_prefix": None}
    context = AutogenContext(MigrationContext.configure(dialect_name="postgresql", opts=opts), opts=opts)
    context.imports = set()
    up = ops.UpgradeOps(ops=upgrade)
    down = ops.DowngradeOps(ops=downgrade) if downgrade is not None else up.reverse()
    return {"upgrade": render._indent(render._render_cmd_body(up, context)),
            "downgrade": render._indent(render._render_cmd_body(down, context)),
            "imports": sorted(context.imports)}


def main() -> None:
    columns = [TableReference(table_schema="public", table_name="example_table", column_name="enum_field")]
    view = PGView(schema="public", signature="active_accounts",
                  definition="SELECT id, email FROM accounts WHERE active")
    replaced = PGView(schema="public", signature="active_accounts",
                      definition="SELECT id, email, created_at FROM accounts WHERE active")
    replaced._version_to_replace = view  # what autogenerate reads from the live database
    entities = {
        "view": view,
        "materialized_view": PGMaterializedView(schema="public", signature="monthly_totals",
                                                definition="SELECT 1 AS n", with_data=True),
        "function": PGFunction(schema="public", signature="to_upper(some_text text)",
                               definition="returns text as $$ select upper(some_text) $$ language SQL"),
        "trigger": PGTrigger(schema="public", signature="accounts_touch", on_entity="public.accounts",
                             definition="BEFORE UPDATE ON public.accounts FOR EACH ROW "
                                        "EXECUTE FUNCTION public.touch_updated_at()"),
        "policy": PGPolicy(schema="public", signature="owner_only", on_entity="public.accounts",
                           definition="AS PERMISSIVE FOR SELECT TO public USING (owner = current_user)"),
        "extension": PGExtension(schema="public", signature="citext"),
        "grant": PGGrantTable(schema="public", table="accounts", columns=["id"], role="reporting",
                              grant="SELECT"),
    }
    lake = sa.Table("lake", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("geom", Geometry("LINESTRING", srid=4326, spatial_index=True)))
    cases = {
        "enum_remove_value": rendered([SyncEnumValuesOp(
            "public", "myenum", ["one", "two", "three"], ["one", "two"], columns)]),
        "enum_add_value": rendered([AddEnumValuesOp(
            "public", "myenum", ["one", "two"], ["one", "two", "three"], columns)]),
        **{f"create_{kind}": rendered([CreateOp(entity)]) for kind, entity in entities.items()},
        "replace_view": rendered([ReplaceOp(replaced)]),
        "geospatial": rendered(
            [alembic_helpers.CreateGeospatialTableOp("lake", list(ops.CreateTableOp.from_table(lake).columns)),
             alembic_helpers.CreateGeospatialIndexOp("idx_lake_geom", "lake", [lake.c.geom],
                                                     postgresql_using="gist", postgresql_ops={}),
             alembic_helpers.AddGeospatialColumnOp(
                 "river", sa.Column("course", Geometry("LINESTRING", srid=4326), nullable=True))],
            [alembic_helpers.DropGeospatialColumnOp("river", "course"),
             alembic_helpers.DropGeospatialIndexOp("idx_lake_geom", table_name="lake", column_name="geom",
                                                   postgresql_using="gist", postgresql_ops={}),
             alembic_helpers.DropGeospatialTableOp("lake")]),
    }
    print(json.dumps(cases))


if __name__ == "__main__":
    main()
