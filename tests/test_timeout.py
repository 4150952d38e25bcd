"""`--timeout`: a migration that hangs is stopped, and the database restored.

The hangs are real: Python sleeping, SQLite evaluating a query that never ends, and
PostgreSQL sleeping inside a transaction that has already changed the schema. Each
test asserts the data, the version and the journal afterwards, and that the run ended
long before the hang would have.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HEAD, schema_of, table_contents, version_of
from postgres_support import database_state
from postgres_support import version_of as pg_version_of
from reliability.processes import descendants, state_of

from safeguard.journal import Journal

PYTHON_HANG = """\
op.create_table("leases", sa.Column("id", sa.Integer, primary_key=True))
op.execute("DELETE FROM audit_log")
import time
time.sleep(600)
"""

# A recursive CTE without an end: SQLite computes it in C, never returning to Python.
SQLITE_QUERY_HANG = """\
op.execute("DELETE FROM audit_log")
op.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
           "SELECT count(*) FROM c")
"""

PG_SLEEP_HANG = """\
op.create_table("leases", sa.Column("id", sa.Integer, primary_key=True))
op.execute("DELETE FROM audit_log")
op.execute("SELECT pg_sleep(600)")
"""

ADDS_A_TABLE = 'op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))'


def last_operation(store: Path):
    return Journal(store).operations()[-1]


def alive(pid: int) -> bool:
    return state_of(pid) not in ("", "Z")


@pytest.fixture
def at_head(seeded):
    seeded.cli("upgrade", HEAD)
    return seeded


@pytest.mark.parametrize("body", [PYTHON_HANG, SQLITE_QUERY_HANG], ids=["python-sleep", "sqlite-query"])
def test_a_hanging_revision_is_stopped_and_the_database_restored(at_head, body):
    at_head.add_revision("a1b2c3d4e5f6", HEAD, ADDS_A_TABLE, doc="notes")
    at_head.add_revision("b2c3d4e5f6a1", "a1b2c3d4e5f6", body, doc="hangs")
    pre_run, pre_schema = table_contents(at_head.db), schema_of(at_head.db)

    started = time.monotonic()
    result = at_head.run("--json", "upgrade", "head", "--timeout", "3", timeout=120)
    elapsed = time.monotonic() - started

    assert result.returncode == 6, result.stderr
    assert elapsed < 60
    assert table_contents(at_head.db) == pre_run
    assert schema_of(at_head.db) == pre_schema
    assert version_of(at_head.db) == [HEAD]
    report = json.loads(result.stdout)
    assert report["kind"] == "MigrationTimeoutError"
    assert report["result"]["timed_out"] is True
    assert report["result"]["applied"] == ["a1b2c3d4e5f6"]
    assert report["result"]["failed_revision"] == "b2c3d4e5f6a1"
    assert report["result"]["restored"] is True
    message = result.stderr.strip().splitlines()[-1]
    assert "b2c3d4e5f6a1 did not finish within the --timeout of 3s" in message
    assert "restored snapshot" in message
    op = last_operation(at_head.store)
    assert op.end["outcome"] == "restored" and op.in_flight() is None
    assert {(s["step"], s["status"], s.get("revision")) for s in op.steps} >= {
        ("apply", "done", "a1b2c3d4e5f6"), ("apply", "failed", "b2c3d4e5f6a1"),
        ("restore", "done", None)}


def test_a_timeout_takes_a_snapshot_even_when_every_revision_is_safe(at_head):
    at_head.add_revision("a1b2c3d4e5f6", HEAD, 'import time\ntime.sleep(600)', doc="only waits")
    pre_run = table_contents(at_head.db)

    plan = json.loads(at_head.cli("--json", "upgrade", "--dry-run", "--timeout", "5").stdout)
    assert plan["plan"]["snapshot"] is True  # on SQLite every run's undo is a snapshot
    assert plan["plan"]["undo"]["by"] == "snapshot"  # (test_undo_postgres: --timeout's reason)

    result = at_head.run("upgrade", "head", "--timeout", "2", timeout=120)
    assert result.returncode == 6, result.stderr
    assert table_contents(at_head.db) == pre_run
    assert version_of(at_head.db) == [HEAD]


def test_a_run_within_its_timeout_migrates_as_usual(at_head):
    at_head.add_revision("a1b2c3d4e5f6", HEAD, "op.execute('UPDATE audit_log SET id = id')\n"
                                               "print('touched the audit log')",
                         doc="touch the audit log")
    pre_run = table_contents(at_head.db)

    result = at_head.run("--json", "upgrade", "head", "--timeout", "120", timeout=120)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "migrated" and report["applied"] == ["a1b2c3d4e5f6"]
    assert version_of(at_head.db) == ["a1b2c3d4e5f6"]
    after = table_contents(at_head.db)
    assert after.pop("alembic_version") == [("a1b2c3d4e5f6",)]
    pre_run.pop("alembic_version")
    assert after == pre_run
    assert "touched the audit log" in result.stderr  # the child's output reaches the user


def test_a_failing_revision_under_a_timeout_reports_its_own_error(at_head):
    at_head.add_revision("a1b2c3d4e5f6", HEAD, 'op.execute("DELETE FROM audit_log")\n'
                                               'raise RuntimeError("bad data in row 7")', doc="fails")
    pre_run = table_contents(at_head.db)

    result = at_head.run("--json", "upgrade", "head", "--timeout", "120", timeout=120)

    assert result.returncode == 6, result.stderr
    report = json.loads(result.stdout)
    assert report["kind"] == "MigrationFailedError" and report["result"]["timed_out"] is False
    assert "RuntimeError: bad data in row 7" in report["error"]
    assert table_contents(at_head.db) == pre_run


def test_killing_safeguard_kills_the_migration_it_runs_and_recover_restores(at_head):
    """The child that applies the revisions must never outlive the process that would
    restore the database: SIGKILL the parent, and the child goes with it."""
    at_head.add_revision("a1b2c3d4e5f6", HEAD, PYTHON_HANG, doc="hangs")
    pre_run = table_contents(at_head.db)
    proc = subprocess.Popen(
        [sys.executable, "-m", "safeguard", "-c", str(at_head.ini), "--url", at_head.url,
         "upgrade", "head", "--timeout", "600"],
        cwd=at_head.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not descendants(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    ((child, _argv),) = descendants(proc.pid)
    time.sleep(0.5)  # well inside the sleeping revision

    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)
    at_head.cli("upgrade", "head", expect=9)  # refused until recovered
    at_head.cli("recover")
    assert table_contents(at_head.db) == pre_run
    assert version_of(at_head.db) == [HEAD]
    at_head.cli("recover")  # nothing left to do
    assert last_operation(at_head.store).finished


@pytest.mark.parametrize(("args", "message"), [
    (("--timeout", "0"), "timeout must be a positive number of seconds"),
    (("--timeout", "5", "--policy", "never"), "timeout needs a snapshot"),
])
def test_bad_timeouts_are_refused_before_anything_happens(at_head, args, message):
    at_head.add_revision("a1b2c3d4e5f6", HEAD, ADDS_A_TABLE, doc="notes")
    before, snapshots = at_head.db.read_bytes(), os.listdir(at_head.store / "snapshots")
    result = at_head.cli("upgrade", "head", *args, expect=2)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("safeguard: error: ") and message in line
    assert at_head.db.read_bytes() == before
    assert os.listdir(at_head.store / "snapshots") == snapshots


@pytest.mark.postgres
def test_a_hanging_postgresql_revision_is_stopped_its_session_ended_and_restored(pg_at_head, pg_server):
    pg_at_head.add_revision("a1b2c3d4e5f6", HEAD, PG_SLEEP_HANG, doc="hangs on the server")
    pre_run = database_state(pg_server, pg_at_head.database)

    started = time.monotonic()
    result = pg_at_head.cli("--json", "upgrade", "head", "--timeout", "4", expect=6)
    elapsed = time.monotonic() - started

    assert elapsed < 90
    report = json.loads(result.stdout)
    assert report["kind"] == "MigrationTimeoutError" and report["result"]["restored"] is True
    assert database_state(pg_server, pg_at_head.database) == pre_run
    assert pg_version_of(pg_server, pg_at_head.database) == [HEAD]
    with pg_server.connect() as conn:
        sleeping = conn.execute("SELECT count(*) FROM pg_stat_activity "
                                "WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()"
                                ).fetchone()[0]
    assert sleeping == 0
