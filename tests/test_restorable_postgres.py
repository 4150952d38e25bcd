"""PostgreSQL: a run refuses early when its undo could not run (issue 22, section 4).

A restore builds the snapshot in a new database and renames it into place (CREATEDB),
and re-creates the extensions the snapshot holds. A role without CREATEDB used to
migrate, fail its check and end with rc 8 ("cannot create the database ...sg-restoring:
permission denied"), the database left migrated.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest
from conftest import HEAD, SEED_AT
from postgres_support import database_state, throwaway_role, version_of
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


@pytest.fixture
def ext_owner(pg_server) -> Iterator[str]:
    """A role of its own that owns an extension (request it before pg_seeded)."""
    with throwaway_role(pg_server, "sg_ext", "NOLOGIN") as name:
        yield name


def _extension_owner(server, database: str, name: str) -> str:
    with server.connect(database) as conn:
        return conn.execute("SELECT pg_get_userbyid(extowner) FROM pg_extension WHERE extname = %s",
                            (name,)).fetchone()[0]


def _trusted_citext(server, database: str) -> None:
    with server.connect(database) as conn:
        if not conn.execute("SELECT 1 FROM pg_available_extension_versions "
                            "WHERE name = 'citext' AND trusted").fetchone():
            pytest.skip("the citext extension is not installed (or not trusted) on this server")


def _restore_as(project, pg_server, database: str, role: str):
    """A snapshot, then a manual restore of it, both by ``role``."""
    project = project.pointed_at(pg_server.url_for(database, username=role, password="pw"))
    snapshot = json.loads(project.cli("--json", "snapshot", "create").stdout)["id"]
    return project.run("restore", snapshot, "--yes")


def test_a_restore_by_the_app_role_says_which_extension_lost_its_superuser_owner(
        ext_owner, pg_role, pg_seeded, pg_server, ledger):
    """Issue 33, item 15: created by a superuser, a trusted extension was owned by the
    application's role after a restore run by that role, and only a docs page said so."""
    _trusted_citext(pg_server, pg_seeded.database)
    with pg_server.connect(pg_seeded.database) as conn:
        conn.execute("CREATE EXTENSION citext")
        conn.execute(f'ALTER ROLE "{pg_role}" CREATEDB')
    _owned_by(pg_server, pg_seeded.database, pg_role)
    superuser = _extension_owner(pg_server, pg_seeded.database, "citext")

    result = _restore_as(pg_seeded, pg_server, pg_seeded.database, pg_role)

    owner = _extension_owner(pg_server, pg_seeded.database, "citext")
    ledger(Tally(tests=1, faults=1, restores=int(result.returncode == 0)),
           fault="an extension a superuser created, restored by the application's role")
    assert result.returncode == 0, result.stderr
    assert owner == pg_role  # PostgreSQL lets only a superuser create it as another role
    warnings = [line for line in result.stderr.splitlines() if "citext" in line]
    assert warnings and superuser in warnings[0] and pg_role in warnings[0], result.stderr


@pytest.mark.parametrize("restorer", ["the application's role", "a superuser"])
def test_a_restore_gives_an_extension_back_its_owner_where_the_role_may(
        restorer, ext_owner, pg_role, pg_seeded, pg_server):
    _trusted_citext(pg_server, pg_seeded.database)
    with pg_server.connect(pg_seeded.database) as conn:
        conn.execute(f'GRANT CREATE ON DATABASE "{pg_seeded.database}" TO "{ext_owner}"')
        conn.execute(f'SET ROLE "{ext_owner}"')
        conn.execute("CREATE EXTENSION citext")
        conn.execute("RESET ROLE")
        conn.execute(f'ALTER ROLE "{pg_role}" CREATEDB')
        conn.execute(f'GRANT "{ext_owner}" TO "{pg_role}"')  # the app may act as the owner
    _owned_by(pg_server, pg_seeded.database, pg_role)

    if restorer == "a superuser":
        snapshot = json.loads(pg_seeded.cli("--json", "snapshot", "create").stdout)["id"]
        result = pg_seeded.run("restore", snapshot, "--yes")
    else:
        result = _restore_as(pg_seeded, pg_server, pg_seeded.database, pg_role)

    assert result.returncode == 0, result.stderr
    assert _extension_owner(pg_server, pg_seeded.database, "citext") == ext_owner
    assert "citext" not in result.stderr, result.stderr
