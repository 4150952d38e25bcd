"""Run one direction of a revision file against a database as Alembic would (inside
one transaction, through ``Operations``), and report what happened: whether it
succeeded and every SQL statement it sent.

Run as a process by tests/test_classify_plugins.py, so that importing the plugins
(which registers their operations on Alembic's ``Operations``) happens in that process
only, as it does in a project whose env.py imports them:

    python tests/support/plugin_revision.py URL PATH upgrade|downgrade

Prints one JSON object: ``{"ok": bool, "error": str | null, "statements": [str]}``.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import alembic_postgresql_enum  # noqa: F401  (env.py imports it, as its README says)
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext


def main(url: str, path: str, direction: str) -> None:
    spec = importlib.util.spec_from_file_location("revision_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    engine = sa.create_engine(url)
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    error = None
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            with Operations.context(MigrationContext.configure(conn)):
                getattr(module, direction)()
            transaction.commit()
        except Exception as exc:  # the migration failed: as Alembic does, roll back
            transaction.rollback()
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    engine.dispose()
    print(json.dumps({"ok": error is None, "error": error, "statements": statements}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
