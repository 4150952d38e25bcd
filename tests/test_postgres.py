"""The guarded upgrade on a real PostgreSQL server: the user's story end to end.

Each test gets a fresh database on the throwaway server scripts/pgtest.sh starts (see
postgres_support.py), the example project pointed at it, and the real CLI.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from conftest import CHAIN, HEAD, SEED_AT
from postgres_support import auxiliary_databases, database_state, version_of

from safeguard.backends import backend_for
from safeguard.config import load_settings
from safeguard.errors import LockBusyError

pytestmark = pytest.mark.postgres

# An earlier revision of the run that commits: a new table with its own enum type,
# sequence and index, a pre-existing sequence advanced, rows deleted.
CREATES_AND_DELETES = """\
op.execute("CREATE TYPE lease_status AS ENUM ('draft', 'signed')")
op.execute("CREATE SEQUENCE lease_numbers START 1000")
op.execute(
    "CREATE TABLE leases (id serial PRIMARY KEY, "
    "number bigint NOT NULL DEFAULT nextval('lease_numbers'), status lease_status NOT NULL)"
)
op.execute("INSERT INTO leases (status) SELECT 'draft' FROM generate_series(1, 5)")
op.execute("CREATE INDEX ix_leases_status ON leases (status)")
op.execute("SELECT nextval('invoice_numbers') FROM generate_series(1, 10)")
op.execute("DELETE FROM audit_log")
"""

# A later revision that fails: 45 tenants cannot have 30 distinct properties.
FAILS = """\
op.create_unique_constraint("uq_tenants_property", "tenants", ["property_id"])
"""

# Commits, but leaves a constraint NOT VALID: the rows already there were never
# checked, which the integrity check refuses to call healthy.
LEAVES_A_CONSTRAINT_NOT_VALID = """\
op.execute("UPDATE properties SET city = upper(city)")
op.execute(
    "ALTER TABLE properties ADD CONSTRAINT ck_properties_city_lower "
    "CHECK (city = lower(city)) NOT VALID"
)
"""

# Holds the lock long enough for a second runner to find it taken.
SLOW_AND_SAFE = """\
op.execute("SELECT pg_sleep(3)")
"""


def state(project, pg_server):
    return database_state(pg_server, project.database)


def add_app_sequence(pg_server, database: str, value: int = 41) -> None:
    """A sequence of the application's own, with a value a restore must keep."""
    with pg_server.connect(database) as conn:
        conn.execute("CREATE SEQUENCE invoice_numbers")
        conn.execute("SELECT setval('invoice_numbers', %s)", (value,))


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    return lines[0]


def snapshots(project) -> list[dict]:
    return json.loads(project.cli("--json", "snapshot", "list").stdout)["snapshots"]


# -- the example chain ---------------------------------------------------------------

def test_upgrade_from_an_empty_database_reaches_head(pg_project, pg_server):
    pg_project.cli("upgrade", "head")
    assert version_of(pg_server, pg_project.database) == [HEAD]
    assert pg_project.cli("current").stdout.strip() == HEAD


def test_guarded_upgrade_of_the_example_chain(pg_seeded, pg_server):
    before = state(pg_seeded, pg_server)["contents"]

    report = json.loads(pg_seeded.cli("--json", "upgrade", "head").stdout)

    assert report["outcome"] == "migrated"
    assert report["applied"] == list(CHAIN[4:])
    assert version_of(pg_server, pg_seeded.database) == [HEAD]
    after = state(pg_seeded, pg_server)["contents"]
    for table in ("transactions", "documents", "obligations", "audit_log", "tenants", "properties"):
        assert len(after[f"public.{table}"]) == len(before[f"public.{table}"]) > 0, table

    snap = report["snapshot"]
    assert snap["engine"] == "postgresql" and snap["revision"] == SEED_AT
    assert snap["row_counts"] == {t.removeprefix("public."): len(rows) for t, rows in before.items()}
    extra = snap["extra"]
    assert extra["format"] == "custom" and extra["database"] == pg_seeded.database
    assert extra["server_version"].startswith("15") and extra["pg_dump_version"].startswith("15")
    assert (pg_seeded.store / "snapshots" / snap["id"] / "database.dump").is_file()
    assert auxiliary_databases(pg_server, pg_seeded.database) == []


def test_failing_revision_after_a_committed_one_leaves_no_trace(pg_role, pg_at_head, pg_server):
    add_app_sequence(pg_server, pg_at_head.database)
    with pg_server.connect(pg_at_head.database) as conn:  # owners and privileges to keep
        conn.execute(f'GRANT SELECT ON properties TO "{pg_role}"')
        conn.execute(f'ALTER TABLE tenants OWNER TO "{pg_role}"')
        conn.execute(f'GRANT CONNECT ON DATABASE "{pg_at_head.database}" TO "{pg_role}"')
        conn.execute(f'REVOKE TEMPORARY ON DATABASE "{pg_at_head.database}" FROM PUBLIC')
        conn.execute(f'ALTER DATABASE "{pg_at_head.database}" SET search_path = "$user", public')
        conn.execute(f'ALTER DATABASE "{pg_at_head.database}" SET work_mem = \'8MB\'')
        conn.execute(f'COMMENT ON DATABASE "{pg_at_head.database}" IS \'poolula production\'')
    pg_at_head.add_revision("a1b2c3d4e5f6", HEAD, CREATES_AND_DELETES, doc="leases")
    pg_at_head.add_revision("b2c3d4e5f6a1", "a1b2c3d4e5f6", FAILS, doc="one tenant per property")
    pre_run = state(pg_at_head, pg_server)

    result = pg_at_head.cli("--json", "upgrade", "head", expect=6)

    report = json.loads(result.stdout)
    assert report["result"]["applied"] == ["a1b2c3d4e5f6"]
    assert report["result"]["failed_revision"] == "b2c3d4e5f6a1"
    assert report["result"]["restored"] is True
    after = state(pg_at_head, pg_server)
    assert after["contents"]["public.audit_log"] == pre_run["contents"]["public.audit_log"]
    assert "public.leases" not in after["contents"]
    assert ("public", "lease_status", "e", "postgres") not in after["types"]
    assert after["sequences"] == pre_run["sequences"] == {"public.invoice_numbers": (41, True)}
    assert after == pre_run  # rows, relations, types, indexes, owners, privileges, settings
    assert version_of(pg_server, pg_at_head.database) == [HEAD]
    assert auxiliary_databases(pg_server, pg_at_head.database) == []
    message = result.stderr.strip().splitlines()[-1]
    assert "b2c3d4e5f6a1" in message and report["result"]["snapshot"]["id"] in message


def test_health_check_failing_after_commit_restores_and_restamps(pg_at_head, pg_server):
    add_app_sequence(pg_server, pg_at_head.database)
    pg_at_head.add_revision("c3d4e5f6a1b2", HEAD, LEAVES_A_CONSTRAINT_NOT_VALID, doc="lower-case cities")
    pre_run = state(pg_at_head, pg_server)

    result = pg_at_head.cli("upgrade", "head", expect=7)

    assert "ck_properties_city_lower" in result.stderr and "NOT VALID" in result.stderr
    assert "restored snapshot" in result.stderr
    assert state(pg_at_head, pg_server) == pre_run
    assert version_of(pg_server, pg_at_head.database) == [HEAD]


@pytest.mark.parametrize("keys", [
    {"pg_format": "directory", "pg_jobs": "2"},
    {"pg_strategy": "template"},
], ids=["directory", "template"])
def test_other_snapshot_strategies_restore_the_same(pg_at_head, pg_server, keys):
    add_app_sequence(pg_server, pg_at_head.database)
    pg_at_head.configure(**keys)
    pg_at_head.add_revision("a1b2c3d4e5f6", HEAD, CREATES_AND_DELETES, doc="leases")
    pg_at_head.add_revision("b2c3d4e5f6a1", "a1b2c3d4e5f6", FAILS, doc="one tenant per property")
    pre_run = state(pg_at_head, pg_server)

    result = pg_at_head.cli("--json", "upgrade", "head", expect=6)

    snap = json.loads(result.stdout)["result"]["snapshot"]
    assert state(pg_at_head, pg_server) == pre_run
    assert version_of(pg_server, pg_at_head.database) == [HEAD]
    directory = pg_at_head.store / "snapshots" / snap["id"]
    if keys.get("pg_strategy") == "template":
        marker = json.loads((directory / "template.json").read_text())
        assert snap["files"] == {"template.json": snap["sha256"]}
        # The snapshot database survives its own restore, closed to connections.
        assert auxiliary_databases(pg_server, pg_at_head.database) == [marker["template_database"]]
    else:
        assert snap["extra"]["format"] == "directory"
        assert "database.dir/toc.dat" in snap["files"]
        assert auxiliary_databases(pg_server, pg_at_head.database) == []
    verified = pg_at_head.cli("--json", "snapshot", "verify", snap["id"], expect=None)
    assert verified.exit_code == 0, verified.stderr


# -- other sessions during the swap ---------------------------------------------------

def test_sessions_terminate_ends_other_connections_and_restores(pg_at_head, pg_server):
    pg_at_head.configure(pg_sessions="terminate", pg_sessions_timeout="10")
    pg_at_head.add_revision("c3d4e5f6a1b2", HEAD, LEAVES_A_CONSTRAINT_NOT_VALID)
    pre_run = state(pg_at_head, pg_server)
    app = pg_server.connect(pg_at_head.database)  # the application, idle in its pool

    pg_at_head.cli("upgrade", "head", expect=7)

    with pytest.raises(psycopg.OperationalError):
        app.execute("SELECT 1")
    app.close()
    assert state(pg_at_head, pg_server) == pre_run


def test_sessions_wait_waits_for_other_connections_to_leave(pg_at_head, pg_server):
    pg_at_head.configure(pg_sessions="wait", pg_sessions_timeout="20")
    pg_at_head.add_revision("c3d4e5f6a1b2", HEAD, LEAVES_A_CONSTRAINT_NOT_VALID)
    pre_run = state(pg_at_head, pg_server)
    app = pg_server.connect(pg_at_head.database)
    app.execute("SET application_name = 'poolula-web'")
    stop = threading.Event()

    def leave_once_the_swap_waits() -> None:
        # The swap closes the database to new connections, then waits for the old ones:
        # the application disconnects a moment after that, however slow the run was.
        with pg_server.connect() as admin:
            while not stop.wait(0.05):
                row = admin.execute("SELECT datallowconn FROM pg_database WHERE datname = %s",
                                    (pg_at_head.database,)).fetchone()
                if row is not None and not row[0]:
                    stop.wait(1.0)
                    app.close()
                    return

    leaving = threading.Thread(target=leave_once_the_swap_waits, daemon=True)
    leaving.start()
    try:
        result = pg_at_head.cli("upgrade", "head", expect=7)
    finally:
        stop.set()
        leaving.join(10)
        app.close()
    assert state(pg_at_head, pg_server) == pre_run
    # Issue 30 item 9: the wait was silent; it names who it waits for and how long is left.
    waiting = [line for line in result.stderr.splitlines() if "poolula-web" in line]
    assert waiting and re.search(r"\d+s left", waiting[0]), result.stderr


def test_sessions_wait_gives_up_naming_the_sessions(pg_at_head, pg_server):
    pg_at_head.configure(pg_sessions="wait", pg_sessions_timeout="1")
    pg_at_head.add_revision("c3d4e5f6a1b2", HEAD, LEAVES_A_CONSTRAINT_NOT_VALID)
    with pg_server.connect(pg_at_head.database) as app:
        app.execute("SET application_name = 'poolula-web'")
        result = pg_at_head.cli("upgrade", "head", expect=8)
        assert app.execute("SELECT 1").fetchone() == (1,)  # never disturbed
    assert "poolula-web" in result.stderr and "pg_sessions = terminate" in result.stderr
    # The live database was reopened, and the restored copy did not linger.
    assert auxiliary_databases(pg_server, pg_at_head.database) == []
    assert version_of(pg_server, pg_at_head.database) == ["c3d4e5f6a1b2"]


# -- one guarded operation at a time ----------------------------------------------------

def test_two_concurrent_upgrades_one_migrates_the_other_exits_4(pg_at_head, pg_server):
    pg_at_head.add_revision("d4e5f6a1b2c3", HEAD, SLOW_AND_SAFE, doc="parking")
    argv = [sys.executable, "-m", "safeguard", "-c", str(pg_at_head.ini), "--url", pg_at_head.url,
            "upgrade", "head", "--lock-timeout", "1"]
    runners = [subprocess.Popen(argv, cwd=pg_at_head.root, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(r.wait(timeout=60), r.communicate()[1]) for r in runners]

    codes = sorted(code for code, _ in results)
    assert codes == [0, 4], results
    loser = next(err for code, err in results if code == 4)
    assert "another safeguard operation" in loser and "pid" in loser
    assert version_of(pg_server, pg_at_head.database) == ["d4e5f6a1b2c3"]


def test_advisory_lock_stops_a_runner_with_another_store_and_names_the_holder(pg_seeded, pg_server, tmp_path):
    settings = load_settings(pg_seeded.ini, url=pg_seeded.url)
    holder = backend_for(pg_seeded.url, settings)
    with holder.session_lock(0):
        # Another store: the file lock cannot see us, only the server can.
        result = pg_seeded.run("upgrade", "head", "--lock-timeout", "1",
                               env={"SAFEGUARD_STORE": str(tmp_path / "other-store")})
        with pytest.raises(LockBusyError, match="advisory lock"), \
                backend_for(pg_seeded.url, settings).session_lock(0):
            pass
    assert result.returncode == 4, result.stderr
    assert "advisory lock" in result.stderr and "safeguard (pid" in result.stderr
    assert version_of(pg_server, pg_seeded.database) == [SEED_AT]
    pg_seeded.cli("upgrade", "head")  # released with the context


# -- refusals: one clear line, non-zero, nothing changed ---------------------------------

def test_pg_dump_older_than_the_server_is_refused_before_anything_is_written(
        pg_seeded, pg_server, tmp_path, monkeypatch):
    shim = tmp_path / "old-bin"
    shim.mkdir()
    real = Path(pg_server.bindir or "/usr/bin")
    (shim / "pg_dump").write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "pg_dump (PostgreSQL) 14.11"; exit 0; fi\n'
        f'exec "{real / "pg_dump"}" "$@"\n')
    (shim / "pg_dump").chmod(0o755)
    (shim / "pg_restore").symlink_to(real / "pg_restore")
    monkeypatch.setenv("SAFEGUARD_PG_BINDIR", str(shim))
    before = state(pg_seeded, pg_server)

    result = pg_seeded.cli("-q", "upgrade", "head", expect=3)

    line = one_line(result.stderr)
    assert "pg_dump 14.11" in line and "older than the server" in line and "15" in line
    assert state(pg_seeded, pg_server) == before
    assert snapshots(pg_seeded) == []
    assert not any((pg_seeded.store / "snapshots").iterdir())  # not even a temporary one


@pytest.mark.parametrize("case", ["wrong password", "closed port", "missing database"])
def test_unusable_connection_is_one_clear_line(pg_seeded, pg_server, case):
    before = state(pg_seeded, pg_server)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]  # nothing listens once the socket is closed
    url = {
        "wrong password": pg_server.url_for(pg_seeded.database, password="not-the-password"),
        "closed port": pg_server.url_for(pg_seeded.database, port=closed_port),
        "missing database": pg_server.url_for("no_such_database"),
    }[case]

    result = pg_seeded.pointed_at(url).cli("-q", "upgrade", "head", expect=None)

    assert result.exit_code == 3, result.stderr
    line = one_line(result.stderr)
    assert line.startswith("safeguard: error:")
    assert {"wrong password": "password authentication failed",
            "closed port": "Connection refused",
            "missing database": "does not exist"}[case] in line
    assert "not-the-password" not in line and pg_server.password not in line
    assert state(pg_seeded, pg_server) == before
    assert snapshots(pg_seeded) == []


def test_password_reaches_pg_dump_only_through_a_private_passfile(pg_seeded, pg_server, tmp_path, monkeypatch):
    shim = tmp_path / "spy-bin"
    shim.mkdir()
    log = tmp_path / "spy.log"
    real = Path(pg_server.bindir or "/usr/bin")
    for tool in ("pg_dump", "pg_restore"):
        (shim / tool).write_text(
            "#!/bin/sh\n"
            f'printf "argv %s\\n" "$*" >> "{log}"\n'
            f'if [ -n "$PGPASSFILE" ]; then echo "passfile $PGPASSFILE $(stat -c %a "$PGPASSFILE")" >> "{log}"; fi\n'
            f'exec "{real / tool}" "$@"\n')
        (shim / tool).chmod(0o755)
    monkeypatch.setenv("SAFEGUARD_PG_BINDIR", str(shim))
    pg_seeded.add_revision("c3d4e5f6a1b2", HEAD, LEAVES_A_CONSTRAINT_NOT_VALID)

    result = pg_seeded.cli("upgrade", "head", expect=7)  # a snapshot, then a restore

    spied = log.read_text()
    assert "--snapshot=" in spied and "pg_restore" not in spied.split("argv ")[0]
    assert pg_server.password not in spied
    passfiles = [line.split() for line in spied.splitlines() if line.startswith("passfile")]
    assert passfiles and all(mode == "600" for _, _, mode in passfiles)
    assert not any(Path(path).exists() for _, path, _ in passfiles)
    store_text = "".join(p.read_text(errors="replace") for p in pg_seeded.store.rglob("*.json*"))
    assert pg_server.password not in store_text + result.stderr + result.stdout


# -- crash recovery of the swap -----------------------------------------------------------

@pytest.mark.parametrize("point", ["postgres:swap:closed", "postgres:swap:renamed-old"])
def test_a_restore_killed_mid_swap_is_recovered(pg_at_head, pg_server, point):
    pg_at_head.add_revision("c3d4e5f6a1b2", HEAD, LEAVES_A_CONSTRAINT_NOT_VALID)
    pre_run = state(pg_at_head, pg_server)

    killed = pg_at_head.run("upgrade", "head", env={"SAFEGUARD_FAULT": point})

    assert killed.returncode == -9, killed.stderr
    assert auxiliary_databases(pg_server, pg_at_head.database)  # the names tell where it stopped
    # Between the renames there is no database for env.py to connect to, so the
    # backend puts the swap right first; then `safeguard recover` finishes the job.
    backend = backend_for(pg_at_head.url, load_settings(pg_at_head.ini, url=pg_at_head.url))
    assert backend.recover()
    recovered = pg_at_head.run("recover")
    assert recovered.returncode == 0, recovered.stderr
    assert state(pg_at_head, pg_server) == pre_run
    assert version_of(pg_server, pg_at_head.database) == [HEAD]
    assert auxiliary_databases(pg_server, pg_at_head.database) == []


def test_a_swap_interrupted_between_its_renames_is_finished(pg_seeded, pg_server):
    database = pg_seeded.database
    backend = backend_for(pg_seeded.url, load_settings(pg_seeded.ini, url=pg_seeded.url))
    before = state(pg_seeded, pg_server)
    with pg_server.connect() as conn:  # the state a crash after `D -> D.sg-old` leaves
        conn.execute(f'CREATE DATABASE "{database}.sg-ready" TEMPLATE "{database}"')
        conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        conn.execute(f'ALTER DATABASE "{database}" RENAME TO "{database}.sg-old"')
    assert not backend.exists()

    assert "finished an interrupted swap" in backend.recover()

    assert backend.exists() and auxiliary_databases(pg_server, database) == []
    assert state(pg_seeded, pg_server) == before


def test_a_swap_interrupted_before_its_renames_reopens_the_live_database(pg_seeded, pg_server):
    database = pg_seeded.database
    backend = backend_for(pg_seeded.url, load_settings(pg_seeded.ini, url=pg_seeded.url))
    with pg_server.connect() as conn:  # a crash after closing D, before renaming it
        conn.execute(f'CREATE DATABASE "{database}.sg-ready" TEMPLATE "{database}"')
        conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')

    assert "cleaned up" in backend.recover()

    assert auxiliary_databases(pg_server, database) == []
    assert version_of(pg_server, database) == [SEED_AT]  # connectable again
    assert backend.recover() is None


# -- what the backend reports -------------------------------------------------------------

def test_row_counts_name_public_tables_bare_and_others_by_schema(pg_seeded, pg_server):
    with pg_server.connect(pg_seeded.database) as conn:
        conn.execute("CREATE SCHEMA ledger")
        conn.execute("CREATE TABLE ledger.entries AS SELECT generate_series(1, 7) AS n")
    backend = backend_for(pg_seeded.url, load_settings(pg_seeded.ini, url=pg_seeded.url))

    counts = backend.row_counts()

    assert counts["ledger.entries"] == 7
    assert counts["properties"] == 30 and "public.properties" not in counts


def test_integrity_problems_name_not_valid_constraints_and_invalid_indexes(pg_seeded, pg_server):
    backend = backend_for(pg_seeded.url, load_settings(pg_seeded.ini, url=pg_seeded.url))
    with pg_server.connect(pg_seeded.database) as conn:
        conn.execute("ALTER TABLE tenants ADD CONSTRAINT ck_tenants_named "
                     "CHECK (length(name) > 1000) NOT VALID")
        with pytest.raises(psycopg.errors.UniqueViolation):
            # Fails on the duplicate property_ids, and leaves the index behind, invalid.
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY ix_tenants_one_per_property "
                         "ON tenants (property_id)")

    problems = backend.integrity_problems(quick=True)

    assert any("ck_tenants_named" in p and "NOT VALID" in p for p in problems), problems
    assert any("ix_tenants_one_per_property" in p and "invalid" in p for p in problems), problems

