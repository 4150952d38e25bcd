"""PostgreSQL: a run refuses early when its undo could not run (issue 22, section 4).

A restore builds the snapshot in a new database and renames it into place (CREATEDB),
and re-creates the extensions the snapshot holds. A role without CREATEDB used to
migrate, fail its check and end with rc 8 ("cannot create the database ...sg-restoring:
permission denied"), the database left migrated.
"""

from __future__ import annotations

import json

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


def _without_createdb(pg_role, pg_seeded, pg_server):
    _owned_by(pg_server, pg_seeded.database, pg_role)
    return pg_seeded.pointed_at(pg_server.url_for(pg_seeded.database, username=pg_role,
                                                  password="pw"))


def _failed(preconditions: dict) -> list[dict]:
    return [p for p in preconditions["items"] if p["status"] == "failed"]


def test_plan_and_check_report_a_role_without_createdb(pg_role, pg_seeded, pg_server):
    """Issue 30 item 4: `plan` said "Undo: snapshot ..." and exited 0 for a role that
    may not create databases; `upgrade` then refused (exit 3) at deploy time. `plan`
    and `check` report the undo's preconditions, and exit as the run would."""
    project = _without_createdb(pg_role, pg_seeded, pg_server)
    project.add_revision("f2f2f2f2f2f2", HEAD, 'op.drop_table("tenants")')
    before = database_state(pg_server, pg_seeded.database)

    planned = project.run("--json", "plan")
    assert planned.returncode == 3, planned.stderr
    report = json.loads(planned.stdout)
    assert report["undo"]["by"] == "snapshot" and report["preconditions"]["ok"] is False
    (failed,) = _failed(report["preconditions"])
    assert failed["name"] == "restore" and "CREATEDB" in failed["detail"]
    assert "undo" in failed["needed_by"]
    human = project.run("plan")
    assert human.returncode == 3 and "CREATEDB" in human.stdout + human.stderr

    checked = project.run("--json", "check")
    assert checked.returncode == 3, checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] is True  # the database is healthy: the refusal is the precondition's
    assert [p["name"] for p in _failed(report["preconditions"])] == ["restore"]
    assert database_state(pg_server, pg_seeded.database) == before
    assert list(project.store.glob("snapshots/2*")) == []


def test_snapshot_create_without_createdb_names_what_a_restore_needs(pg_role, pg_seeded, pg_server):
    """Issue 30 item 4: it said the database "could not be restored", as if a restore
    had been tried; it says what a restore of the snapshot would need."""
    project = _without_createdb(pg_role, pg_seeded, pg_server)
    result = project.run("snapshot", "create")
    assert result.returncode == 3, result.stderr
    assert "CREATEDB" in result.stderr and "could not be restored" not in result.stderr
    assert list(project.store.glob("snapshots/2*")) == []


def test_plan_reports_an_extension_only_a_superuser_may_create(pg_role, pg_seeded, pg_server):
    with pg_server.connect(pg_seeded.database) as conn:
        if not conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'file_fdw'").fetchone():
            pytest.skip("the file_fdw extension is not installed on this server")
        conn.execute("CREATE EXTENSION file_fdw")
        conn.execute(f'ALTER ROLE "{pg_role}" CREATEDB')
    project = _without_createdb(pg_role, pg_seeded, pg_server)
    project.add_revision("f2f2f2f2f2f2", HEAD, 'op.drop_table("tenants")')

    planned = project.run("--json", "plan")

    assert planned.returncode == 3, planned.stderr
    (failed,) = _failed(json.loads(planned.stdout)["preconditions"])
    assert failed["name"] == "restore" and "file_fdw" in failed["detail"]
