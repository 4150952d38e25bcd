"""PostgreSQL: a run refuses early when its undo could not run (issue 22, section 4).

A restore builds the snapshot in a new database and renames it into place (CREATEDB),
and re-creates the extensions the snapshot holds. A role without CREATEDB used to
migrate, fail its check and end with rc 8 ("cannot create the database ...sg-restoring:
permission denied"), the database left migrated.
"""

from __future__ import annotations

import pytest
from conftest import HEAD, SEED_AT
from postgres_support import database_state, version_of
from reliability.ledger import Tally

pytestmark = pytest.mark.postgres


def _owned_by(server, database: str, role: str) -> None:
    """Hand the database and everything in its public schema to ``role``."""
    with server.connect(database) as conn:
        conn.execute(f'ALTER ROLE "{role}" PASSWORD \'pw\'')
        conn.execute(f'ALTER DATABASE "{database}" OWNER TO "{role}"')
        conn.execute(f'ALTER SCHEMA public OWNER TO "{role}"')
        objects = conn.execute(
            "SELECT c.relkind, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'v', 'm')").fetchall()
        kinds = {"r": "TABLE", "S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
        for kind, name in objects:
            conn.execute(f'ALTER {kinds[kind]} "{name}" OWNER TO "{role}"')
        for (name,) in conn.execute(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = 'public' AND t.typtype = 'e'").fetchall():
            conn.execute(f'ALTER TYPE "{name}" OWNER TO "{role}"')


def test_a_role_without_createdb_is_refused_before_migrating(pg_role, pg_seeded, pg_server, ledger):
    _owned_by(pg_server, pg_seeded.database, pg_role)
    project = pg_seeded.pointed_at(pg_server.url_for(pg_seeded.database, username=pg_role,
                                                     password="pw"))
    project.add_revision("f2f2f2f2f2f2", HEAD, 'op.drop_table("tenants")\nraise RuntimeError("boom")')
    before = database_state(pg_server, pg_seeded.database)

    result = project.run("-q", "upgrade", "head")

    after = database_state(pg_server, pg_seeded.database)
    ledger(Tally(tests=1, faults=1, bad_inputs=1, data_lost=int(after != before)),
           fault="no CREATEDB")
    assert result.returncode == 3, result.stderr
    assert "CREATEDB" in result.stderr and pg_role in result.stderr
    assert after == before and version_of(pg_server, pg_seeded.database) == [SEED_AT]


def test_an_extension_only_a_superuser_may_create_is_refused_by_snapshot_create(
        pg_role, pg_seeded, pg_server, ledger):
    """Installed by a superuser, file_fdw (untrusted) could not be re-created by the
    owner: `snapshot create` said 0, `verify` 10, `restore` 8."""
    with pg_server.connect(pg_seeded.database) as conn:
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'file_fdw'"
                                 ).fetchone()
        if not available:
            pytest.skip("the file_fdw extension is not installed on this server")
        conn.execute("CREATE EXTENSION file_fdw")
        conn.execute(f'ALTER ROLE "{pg_role}" CREATEDB')
    _owned_by(pg_server, pg_seeded.database, pg_role)
    project = pg_seeded.pointed_at(pg_server.url_for(pg_seeded.database, username=pg_role,
                                                     password="pw"))

    result = project.run("snapshot", "create")

    ledger(Tally(tests=1, bad_inputs=1), fault="an extension only a superuser may create")
    assert result.returncode == 3, result.stderr
    assert "file_fdw" in result.stderr and "superuser" in result.stderr
    assert list(project.store.glob("snapshots/2*")) == []
