"""SIGINT and SIGTERM stop a guarded run the way a failure does: the database is put
back, the operation closed, and the process exits 130 or 143.

Every signal here is real, sent to the CLI running as its own process, at a moment the
test knows: the slow revision writes a marker file just before its slow part (a
statement that never ends, or a Python loop), and the other moments are the suite's
SAFEGUARD_PAUSE points (the process stops itself there; the signal waits until it is
let go). Afterwards the database is compared with the pre-run state table by table.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import HEAD, SEED_AT, schema_of, table_contents, version_of
from postgres_support import database_state
from postgres_support import version_of as pg_version_of
from reliability.processes import Run, child_running, resume, start, wait_stopped, wait_until

from safeguard.journal import Journal

NEW = "a1b2c3d4e5f6"
SIGNALS = [signal.SIGINT, signal.SIGTERM]
SIGNAL_IDS = ["SIGINT", "SIGTERM"]

# The issue's own story: a batch drop of a column (SQLite rebuilds the table), then a
# long query. The recursive CTE never ends and runs entirely inside SQLite's C code.
SQLITE_SLOW_STATEMENT = """\
with op.batch_alter_table("properties") as batch:
    batch.drop_column("zoning")
op.execute("DELETE FROM audit_log")
open({marker!r}, "w").close()
op.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
"""
PG_SLOW_STATEMENT = """\
op.drop_column("properties", "zoning")
op.execute("DELETE FROM audit_log")
open({marker!r}, "w").close()
op.execute("SELECT pg_sleep(600)")
"""
PYTHON_LOOP = """\
with op.batch_alter_table("properties") as batch:
    batch.drop_column("zoning")
op.execute("DELETE FROM audit_log")
open({marker!r}, "w").close()
n = 0
while True:
    n += 1
"""
QUICK = 'op.execute("UPDATE audit_log SET id = id")'


class Sqlite:
    """Reading the state of the project's SQLite file."""

    slow_statement = SQLITE_SLOW_STATEMENT

    def __init__(self, project) -> None:
        self.project = project

    def state(self):
        return {"rows": table_contents(self.project.db), "schema": schema_of(self.project.db)}

    def version(self):
        return version_of(self.project.db)

    def tables(self):
        return set(table_contents(self.project.db))


class Postgres:
    slow_statement = PG_SLOW_STATEMENT

    def __init__(self, project, server) -> None:
        self.project, self.server = project, server

    def state(self):
        return database_state(self.server, self.project.database)

    def version(self):
        return pg_version_of(self.server, self.project.database)

    def tables(self):
        return {name.split(".", 1)[1] for name in self.state()["contents"]}

    def sessions_left(self) -> int:
        with self.server.connect() as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                "AND pid <> pg_backend_pid()", (self.project.database,)).fetchone()[0]


@pytest.fixture
def at_head(seeded):
    seeded.cli("upgrade", HEAD)
    return seeded


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request):
    """The example project at head, on each engine."""
    if request.param == "sqlite":
        return Sqlite(request.getfixturevalue("at_head"))
    return Postgres(request.getfixturevalue("pg_at_head"), request.getfixturevalue("pg_server"))


def add_slow_revision(project, body: str) -> Path:
    marker = project.root.parent / f"slow-part-{time.monotonic_ns()}"
    project.add_revision(NEW, HEAD, body.format(marker=str(marker)), doc="drops zoning, then slow")
    return marker


def signal_when(run: Run, ready, sig: int, *, settle: float = 0.3) -> int:
    """Send ``sig`` once ``ready()`` (and ``settle`` seconds more, so the slow part is
    under way); the exit status."""
    try:
        assert wait_until(ready, run, what="the slow part"), run.stderr()[-3000:]
        time.sleep(settle)
        os.kill(run.pid, sig)
        return run.wait(timeout=120)
    finally:
        run.reap()


def assert_put_back(engine, pre, run: Run, code: int, sig: int) -> dict:
    """Exit 128 + sig, the pre-run state, the version, the journal closed, the report."""
    project = engine.project
    stderr = run.stderr()
    assert code == 128 + sig, f"exit {code}\n{stderr[-3000:]}"
    assert "Traceback" not in stderr, stderr
    assert engine.state() == pre
    assert engine.version() == [HEAD]
    assert not any(t.startswith("_alembic_tmp") for t in engine.tables())
    journal = Journal(project.store)
    assert journal.unfinished() == []
    op = journal.operations()[-1]
    assert op.end["outcome"] == "restored" and op.end["interrupted"] == signal.Signals(sig).name
    errors = [line for line in stderr.splitlines() if line.startswith("safeguard: error:")]
    assert len(errors) == 1, stderr
    assert f"interrupted by {signal.Signals(sig).name}" in errors[0]
    assert "restored snapshot" in errors[0] and f"the database is back at {HEAD}" in errors[0]
    report = json.loads(run.stdout())
    assert report["kind"] == "OperationInterruptedError" and report["exit_code"] == 128 + sig
    assert report["result"]["interrupted"] is True and report["result"]["restored"] is True
    assert report["result"]["failed_revision"] == NEW
    return report


def assert_next_upgrade_runs(engine) -> None:
    """No `recover` needed: the next upgrade migrates at once."""
    engine.project.add_revision(NEW, HEAD, QUICK, doc="quick")
    engine.project.cli("upgrade", "head")
    assert engine.version() == [NEW]


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
@pytest.mark.parametrize("slow", ["statement", "python-loop"])
def test_a_signal_during_a_destructive_revision_restores_the_snapshot(engine, sig, slow):
    marker = add_slow_revision(engine.project,
                               engine.slow_statement if slow == "statement" else PYTHON_LOOP)
    pre = engine.state()

    run = start(engine.project, "--json", "upgrade", "head")
    code = signal_when(run, marker.exists, sig)

    assert_put_back(engine, pre, run, code, sig)
    if isinstance(engine, Postgres):
        assert engine.sessions_left() == 0
    assert_next_upgrade_runs(engine)


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
def test_a_signal_stops_the_child_of_a_run_under_a_timeout(at_head, sig):
    engine = Sqlite(at_head)
    marker = add_slow_revision(at_head, SQLITE_SLOW_STATEMENT)
    pre = engine.state()

    run = start(at_head, "--json", "upgrade", "head", "--timeout", "600")
    code = signal_when(run, marker.exists, sig)

    assert_put_back(engine, pre, run, code, sig)
    assert_next_upgrade_runs(engine)


def test_a_second_sigterm_during_the_restore_does_not_stop_it(at_head):
    """The restore after the first signal stops itself at its start; a second SIGTERM
    waits for it, and the restore finishes anyway."""
    engine = Sqlite(at_head)
    marker = add_slow_revision(at_head, SQLITE_SLOW_STATEMENT)
    pre = engine.state()

    run = start(at_head, "--json", "upgrade", "head",
                env={"SAFEGUARD_PAUSE": "sqlite:restore:before-swap"})
    try:
        wait_until(marker.exists, run, what="the slow part")
        time.sleep(0.3)
        os.kill(run.pid, signal.SIGTERM)
        wait_stopped(run)
        os.kill(run.pid, signal.SIGTERM)
        resume(run)
        code = run.wait(timeout=120)
    finally:
        run.reap()

    assert_put_back(engine, pre, run, code, signal.SIGTERM)
    assert "the restore is finishing; only SIGKILL can stop it" in run.stderr()
