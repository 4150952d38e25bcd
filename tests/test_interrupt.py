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
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import HEAD, schema_of, table_contents, version_of
from postgres_support import auxiliary_databases, database_state
from postgres_support import version_of as pg_version_of
from reliability.processes import Run, resume, start, wait_stopped, wait_until

from safeguard.journal import Journal
from safeguard.store import SnapshotStore

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

    name = "sqlite"
    slow_statement = SQLITE_SLOW_STATEMENT

    def __init__(self, project) -> None:
        self.project = project

    def state(self):
        return {"rows": table_contents(self.project.db), "schema": schema_of(self.project.db)}

    def version(self):
        return version_of(self.project.db)

    def tables(self):
        return set(table_contents(self.project.db))

    def execute(self, sql: str) -> None:
        with sqlite3.connect(self.project.db) as conn:
            conn.execute(sql)
        conn.close()


class Postgres:
    """Reading the state of the project's PostgreSQL database."""

    name = "postgres"
    slow_statement = PG_SLOW_STATEMENT

    def __init__(self, project, server) -> None:
        self.project, self.server = project, server

    def state(self):
        return database_state(self.server, self.project.database)

    def version(self):
        return pg_version_of(self.server, self.project.database)

    def tables(self):
        return {name.split(".", 1)[1] for name in self.state()["contents"]}

    def execute(self, sql: str) -> None:
        with self.server.connect(self.project.database) as conn:
            conn.execute(sql)

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
    under way), as it comes: SIGINT to the whole process group (Ctrl-C at a terminal),
    SIGTERM to the process (a pod replaced); the exit status."""
    try:
        assert wait_until(ready, run, what="the slow part"), run.stderr()[-3000:]
        time.sleep(settle)
        if sig == signal.SIGINT:
            os.killpg(run.pid, sig)
        else:
            os.kill(run.pid, sig)
        return run.wait(timeout=120)
    finally:
        run.reap()


def signal_at_pause(run: Run, sig: int, *, group: bool = False) -> int:
    """Once the process has stopped itself at its SAFEGUARD_PAUSE point, send ``sig``
    (to its whole group, with ``group``) and let it go on; the exit status."""
    wait_stopped(run)
    if group:
        os.killpg(run.pid, sig)
    else:
        os.kill(run.pid, sig)
    resume(run)
    return run.wait(timeout=120)


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


# -- during the snapshot --------------------------------------------------------------

def journal_has(project, step: str, status: str) -> bool:
    return any(e.get("step") == step and e.get("status") == status
               for e in Journal(project.store).entries())


def assert_nothing_changed(engine, pre, snapshots_before, run: Run, code: int, sig: int) -> None:
    project = engine.project
    stderr = run.stderr()
    assert code == 128 + sig, f"exit {code}\n{stderr[-3000:]}"
    assert engine.state() == pre
    assert engine.version() == [HEAD]
    journal = Journal(project.store)
    assert journal.unfinished() == []
    assert journal.operations()[-1].end["outcome"] == "aborted"
    store = SnapshotStore(project.store)
    assert [s.id for s in store.list()] == snapshots_before
    assert list(store.leftovers()) == []
    assert f"interrupted by {signal.Signals(sig).name}" in stderr
    if isinstance(engine, Postgres):
        assert auxiliary_databases(engine.server, project.database) == []


def snapshot_ids(project) -> list[str]:
    return [s.id for s in SnapshotStore(project.store).list()]


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
def test_a_signal_during_the_snapshot_discards_it_and_changes_nothing(at_head, sig):
    """SQLite: the copy is made, the write lock still held, when the signal lands."""
    engine = Sqlite(at_head)
    marker = add_slow_revision(at_head, SQLITE_SLOW_STATEMENT)
    pre, before = engine.state(), snapshot_ids(at_head)

    run = start(at_head, "upgrade", "head", env={"SAFEGUARD_PAUSE": "sqlite:snapshot:copied"})
    try:
        code = signal_at_pause(run, sig)
    finally:
        run.reap()

    assert not marker.exists()
    assert_nothing_changed(engine, pre, before, run, code, sig)
    assert_next_upgrade_runs(engine)


@pytest.mark.postgres
@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
def test_a_signal_during_a_postgresql_snapshot_discards_it_and_changes_nothing(pg_at_head, pg_server,
                                                                                sig):
    """The snapshot waits on a table another session holds: the signal lands in it."""
    engine = Postgres(pg_at_head, pg_server)
    marker = add_slow_revision(pg_at_head, PG_SLOW_STATEMENT)
    pre, before = engine.state(), snapshot_ids(pg_at_head)

    with pg_server.connect(pg_at_head.database) as holder:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
        run = start(pg_at_head, "upgrade", "head", env={"SAFEGUARD_PG_BINDIR": pg_server.bindir or ""})
        code = signal_when(run, lambda: journal_has(pg_at_head, "snapshot", "started"), sig,
                           settle=1.0)
        holder.execute("ROLLBACK")

    assert not marker.exists()
    assert_nothing_changed(engine, pre, before, run, code, sig)
    assert engine.sessions_left() == 0
    assert_next_upgrade_runs(engine)


# -- a manual restore -----------------------------------------------------------------

RESTORE_POINTS = {
    ("sqlite", "before"): "journal:restore:started",
    ("sqlite", "after"): "sqlite:restore:swapped",
    ("postgres", "before"): "journal:restore:started",
    ("postgres", "after"): "postgres:swap:renamed-new",
}


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_signal_during_a_manual_restore(engine, moment, sig):
    """Before the swap the database stays as it was; from the swap on the restore
    completes. Either way the operation is closed and the exit is 128 + the signal."""
    project = engine.project
    snapshot = json.loads(project.cli("--json", "snapshot", "create").stdout)["id"]
    wanted = engine.state()
    engine.execute("DELETE FROM audit_log")
    pre = engine.state()
    assert pre != wanted

    run = start(project, "--json", "restore", snapshot, "--yes",
                env={"SAFEGUARD_PAUSE": RESTORE_POINTS[(engine.name, moment)]})
    try:
        code = signal_at_pause(run, sig)
    finally:
        run.reap()

    stderr = run.stderr()
    assert code == 128 + sig, f"exit {code}\n{stderr[-3000:]}"
    assert "Traceback" not in stderr, stderr
    journal = Journal(project.store)
    assert journal.unfinished() == []
    op = journal.operations()[-1]
    report = json.loads(run.stdout())
    assert report["kind"] == "OperationInterruptedError"
    if moment == "before":
        assert engine.state() == pre
        assert op.end["outcome"] == "aborted"
        assert "before the swap: nothing was restored" in stderr
    else:
        assert engine.state() == wanted
        assert op.end["outcome"] == "restored"
        assert f"after the swap: the restore of {snapshot} was completed" in stderr
        assert report["result"]["interrupted"] is True
    if isinstance(engine, Postgres):
        # Only the safety snapshot's kept database (after the swap), named by its manifest.
        kept = {s.extra.get("kept_database") for s in SnapshotStore(project.store).list()}
        assert [d for d in auxiliary_databases(engine.server, project.database) if d not in kept] == []
        assert len(kept - {None}) == (moment == "after")
    else:
        assert list(project.root.glob(".poolula.db.safeguard-restore*")) == []
    project.cli("upgrade", "head")  # not refused: nothing is pending


#: Inside the restore that undoes an interrupted run: SQLite before its rename,
#: PostgreSQL with the live database closed to new connections.
UNDO_POINTS = {"sqlite": "sqlite:restore:before-swap", "postgres": "postgres:swap:closed"}


def test_a_second_sigterm_during_the_restore_does_not_stop_it(engine):
    """The second SIGTERM goes to every process of the group, as `systemctl stop` sends
    it to every process of the unit (pg_restore included): the restore finishes."""
    marker = add_slow_revision(engine.project, engine.slow_statement)
    pre = engine.state()

    run = start(engine.project, "--json", "upgrade", "head",
                env={"SAFEGUARD_PAUSE": UNDO_POINTS[engine.name]})
    try:
        wait_until(marker.exists, run, what="the slow part")
        time.sleep(0.3)
        os.kill(run.pid, signal.SIGTERM)
        code = signal_at_pause(run, signal.SIGTERM, group=True)
    finally:
        run.reap()

    assert_put_back(engine, pre, run, code, signal.SIGTERM)
    assert "the restore is finishing; only SIGKILL can stop it" in run.stderr()


@pytest.mark.postgres
@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
def test_without_a_snapshot_the_transaction_is_rolled_back_and_the_operation_closed(
        pg_at_head, pg_server, sig):
    """A safe revision takes no snapshot on PostgreSQL: the run's transaction is its
    undo, rolled back when the signal stops it."""
    engine = Postgres(pg_at_head, pg_server)
    # The example app's smoke check opens its own connection, which makes the undo a
    # snapshot (see test_undo_postgres.py); without it the run's transaction is the undo.
    pg_at_head.configure(smoke_check="")
    marker = pg_at_head.root.parent / "slow-part"
    pg_at_head.add_revision(NEW, HEAD, f"""\
op.create_table("leases", sa.Column("id", sa.Integer, primary_key=True))
open({str(marker)!r}, "w").close()
op.execute("SELECT pg_sleep(600)")
""", doc="adds a table, then sleeps")
    pre = engine.state()

    run = start(pg_at_head, "--json", "upgrade", "head")
    code = signal_when(run, marker.exists, sig)

    stderr = run.stderr()
    assert code == 128 + sig, f"exit {code}\n{stderr[-3000:]}"
    assert engine.state() == pre
    assert engine.version() == [HEAD]
    journal = Journal(pg_at_head.store)
    assert journal.unfinished() == []
    op = journal.operations()[-1]
    assert op.end["outcome"] == "rolled-back" and op.end["heads"] == [HEAD], op.end
    assert "transaction was rolled back" in stderr and f"the database is back at {HEAD}" in stderr
    assert engine.sessions_left() == 0
    assert_next_upgrade_runs(engine)
