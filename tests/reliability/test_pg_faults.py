"""Faults of PostgreSQL's own: the client tools killed under safeguard (the OOM killer
picks the biggest process, often pg_dump or pg_restore), a crashed runner's statement
still running on the server, and a crash between the restore swap's two renames.

pg_dump killed: the snapshot fails, the migration never starts, the database is
untouched. pg_restore killed after a failed migration: the restore fails, and the
operation is left open for `safeguard recover`, which finishes it; killed during a
manual restore: the live database was never touched, so the restore is refused and
closed, with nothing left to recover.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HEAD, SEED_AT

from safeguard.store import SnapshotStore

from .ledger import Tally
from .processes import (
    child_running,
    file_size,
    kill_live,
    resume,
    start,
    state_of,
    wait_stopped,
    wait_until,
)
from .scenarios import FAILING_CHECK, FAILING_REVISION
from .states import error_line, journal_says, last_operation, restores_in, settle, store_leftovers

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

# In a schema of its own, so the drift check (which compares the default schema with
# the models) is not concerned; big enough that pg_dump and pg_restore take a while.
BALLAST = ("CREATE SCHEMA archive; "
           "CREATE TABLE archive.ballast (id serial PRIMARY KEY, payload text); "
           "INSERT INTO archive.ballast (payload) "
           "SELECT md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 150000) g")
# A revision that keeps the server busy after the runner is gone.
SLEEPS = 'op.execute("SELECT pg_sleep(60)")\n'


def add_ballast(pg_engine, project) -> None:
    with pg_engine.server.connect(project.database) as conn:
        conn.execute(BALLAST)


@pytest.fixture
def placed(pg_engine, project, monkeypatch):
    """``placed(revision)``: the project on a fresh seeded database at that revision,
    dropped after the test."""
    for key, value in pg_engine.env.items():
        monkeypatch.setenv(key, value)
    made = []

    def place(revision: str):
        made.append(pg_engine.place(project, revision))
        return made[-1]

    yield place
    for database in made:
        pg_engine.discard(database)


def run_killing_tool(pg_engine, project, args: tuple[str, ...], program: str, option: str,
                     when: str) -> tuple[bool, int, str]:
    """Run the CLI and SIGKILL its ``program`` child (the one with ``option``): ``at-once``
    as soon as it is seen, ``mid-work`` once the file its ``--file=`` names has bytes in
    it, else after ``when`` seconds. Whether a live one was killed (kill_live: never a
    finished one), the exit status, stderr."""
    run = start(project, "-q", *args, env=pg_engine.env)
    try:
        pid = None

        def seen() -> bool:
            nonlocal pid
            pid = child_running(run, program, option)
            return pid is not None

        killed = wait_until(seen, run, what=f"{program} to start")
        if killed and when == "mid-work":
            output = Path(_option_value(pid, "--file="))
            wait_until(lambda: file_size(output) > 0 or state_of(pid) in ("Z", ""), run,
                       what=f"{program} to write")
        elif killed and when != "at-once":
            time.sleep(float(when))
        killed = killed and kill_live(pid)
        return killed, run.wait(), run.stderr()
    finally:
        run.reap()


def _option_value(pid: int, option: str) -> str:
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return next(a[len(option):] for a in argv if a.startswith(option))


def settled_state(pg_engine, project, ledger, wanted: dict | None, *, faults: int = 1,
                  bad_inputs: int = 0):
    """Recover at most once, read the state, and record the run (``wanted``: the state
    the database must be in, or None when the run completed instead); (settled, state)."""
    settled = settle(project)
    state = pg_engine.state(project)
    lost = int(state != wanted) if wanted is not None else int(settled.recoveries != 0)
    ledger(Tally(tests=1, faults=faults, bad_inputs=bad_inputs, restores=restores_in(project),
                 recoveries=settled.recoveries, data_lost=lost))
    return settled, state


@pytest.mark.parametrize("when", ["at-once", "mid-work"], ids=["at-once", "mid-dump"])
def test_pg_dump_killed_mid_snapshot_leaves_the_database_untouched(when, pg_engine, placed, ledger):
    project = placed(SEED_AT)
    add_ballast(pg_engine, project)
    before = pg_engine.state(project)
    killed, code, stderr = run_killing_tool(pg_engine, project, ("upgrade", "head"),
                                            "pg_dump", "--file=", when)
    # Not killed at work (it had finished): the run went on and migrated, which is no loss.
    settled, state = settled_state(pg_engine, project, ledger, before if killed else None,
                                   faults=int(killed))

    assert killed, f"pg_dump was not seen running:\n{stderr}"
    line = error_line(stderr)
    assert code == 5 and "pg_dump" in line and "SIGKILL" in line, stderr
    assert state == before
    assert SnapshotStore(project.store).list() == [] and store_leftovers(project) == []
    assert last_operation(project, ("upgrade",)).end["outcome"] == "aborted"
    assert settled.recoveries == 0 and pg_engine.leftovers(project) == []


def test_a_kill_that_lands_on_a_finished_pg_dump_kills_nothing(pg_engine, placed, ledger):
    """Issue 35, replayed deterministically: pg_dump finishes while safeguard is between
    two looks at it (here: stopped at the instant after starting it), so for a moment it
    is a zombie, and a SIGKILL sent then "succeeds" and kills nothing. The snapshot is
    whole and verified, and the run goes on to migrate, as it must; a test that counted
    that kill as a fault saw a successful run as data loss (exit 0, nothing on stderr,
    the database at head). kill_live tells the two apart."""
    project = placed(SEED_AT)
    add_ballast(pg_engine, project)
    before = pg_engine.state(project)
    run = start(project, "-q", "--json", "upgrade", "head",
                env={**pg_engine.env, "SAFEGUARD_PAUSE": "postgres:pg_dump:started"})
    try:
        wait_stopped(run)
        pid = child_running(run, "pg_dump", "--file=")
        assert pid is not None, "pg_dump should be running while safeguard is paused"
        assert wait_until(lambda: state_of(pid) == "Z", what="pg_dump to finish")
        os.kill(pid, signal.SIGKILL)  # what the old test did: it succeeds on a zombie...
        killed = kill_live(pid)       # ...and this says what it really did
        resume(run)
        code = run.wait()
    finally:
        run.reap()
    settled = settle(project)
    result = json.loads(run.stdout())
    snapshot = SnapshotStore(project.store).get(result["snapshot"]["id"])
    counted = {table.removeprefix("public."): len(rows) for table, rows in before["contents"].items()}
    ledger(Tally(tests=1, faults=0, restores=restores_in(project), recoveries=settled.recoveries,
                 data_lost=int(code != 0 or snapshot.row_counts != counted)))

    assert not killed
    assert code == 0 and result["outcome"] == "migrated", run.stderr()
    assert result["heads"] == [HEAD]
    assert snapshot.row_counts == counted  # the whole pre-run state, dumped and counted
    assert settled.recoveries == 0 and store_leftovers(project) == []


def test_pg_restore_killed_after_a_failed_check_is_finished_by_recover(pg_engine, placed, ledger):
    project = placed(SEED_AT)
    add_ballast(pg_engine, project)
    project.add_revision(FAILING_REVISION, HEAD, FAILING_CHECK)
    before = pg_engine.state(project)
    killed, code, stderr = run_killing_tool(pg_engine, project, ("upgrade", "head"),
                                            "pg_restore", "--dbname=", "0.05")
    settled, state = settled_state(pg_engine, project, ledger, before, faults=int(killed))
    line = error_line(stderr)  # after the ledger entry: a test records before it asserts

    assert killed, f"pg_restore was not seen running:\n{stderr}"
    assert code == 8 and "pg_restore" in line and "safeguard recover" in line, stderr
    assert settled.recoveries == 1 and settled.recovered[0]["action"] == "restored"
    assert state == before
    assert journal_says(last_operation(project, ("upgrade",))) == "pre"
    assert pg_engine.leftovers(project) == [] and store_leftovers(project) == []


def test_pg_restore_killed_during_a_manual_restore_changes_nothing(pg_engine, placed, ledger):
    project = placed(SEED_AT)
    add_ballast(pg_engine, project)
    snapshot = json.loads(project.cli("--json", "snapshot", "create").stdout)["id"]
    pg_engine.replace(project, HEAD)
    before = pg_engine.state(project)
    killed, code, stderr = run_killing_tool(pg_engine, project, ("restore", snapshot, "--yes"),
                                            "pg_restore", "--dbname=", "0.05")
    settled, state = settled_state(pg_engine, project, ledger, before, faults=int(killed))
    line = error_line(stderr)  # after the ledger entry: a test records before it asserts

    # The copy was being built beside the live database, which never changed: the
    # restore is refused and closed, and there is nothing for recover to finish.
    assert killed, f"pg_restore was not seen running:\n{stderr}"
    assert code == 8 and "pg_restore" in line and "not changed" in line, stderr
    assert settled.recoveries == 0
    assert state == before
    assert last_operation(project, ("restore",)).end["outcome"] == "refused"
    assert pg_engine.leftovers(project) == [] and store_leftovers(project) == []


def test_a_runner_killed_mid_statement_has_its_server_session_ended_by_recover(
        pg_engine, placed, ledger):
    """The server goes on running a killed client's statement (here a migration that
    sleeps, holding its locks). recover ends that session first: otherwise its restore
    would wait for it to leave the database, and give up."""
    project = placed(HEAD)
    project.configure(pg_sessions_timeout="3")
    project.add_revision("e5f6a1b2c3d4", HEAD, SLEEPS, doc="slow")
    before = pg_engine.state(project)
    run = start(project, "-q", "upgrade", "head", "--policy", "always", env=pg_engine.env)
    name = f"safeguard (pid {run.pid})"

    def sleeping() -> bool:
        with pg_engine.server.connect() as conn:
            return bool(conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = %s "
                "AND query LIKE %s AND state = 'active'", (name, "%pg_sleep%")).fetchone())

    try:
        assert wait_until(sleeping, run, what="the migration's statement"), run.stderr()
        run.kill()
        assert run.wait() == -signal.SIGKILL
    finally:
        run.reap()
    assert sleeping(), "the server should still be running the dead client's statement"
    settled, state = settled_state(pg_engine, project, ledger, before)

    assert settled.recoveries == 1 and settled.recovered[0]["action"] == "restored"
    assert not sleeping()
    assert state == before


def test_a_crash_between_the_swap_renames_is_reported_as_unfinished(pg_engine, placed, ledger):
    """Between `D -> D.sg-old` and `D.sg-ready -> D` there is no database D at all. Until
    recovered, a command must say an operation is unfinished, not that D is gone."""
    project = placed(SEED_AT)
    project.add_revision(FAILING_REVISION, HEAD, FAILING_CHECK)
    before = pg_engine.state(project)
    killed = project.run("upgrade", "head",
                         env={**pg_engine.env, "SAFEGUARD_FAULT": "postgres:swap:renamed-old"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    refused = project.cli("upgrade", "head", expect=None)
    settled, state = settled_state(pg_engine, project, ledger, before, bad_inputs=1)

    line = error_line(refused.stderr)
    assert refused.exit_code == 9 and "did not finish" in line and "safeguard recover" in line
    assert settled.recoveries == 1 and state == before
    assert pg_engine.leftovers(project) == []


# The new steps of a manual restore that keeps the replaced database (kept.py): after
# the swap, the set-aside database is marked, counted, renamed and given its manifest.
KEEP_STEPS = ["postgres:swap:renamed-new", "journal:safety-snapshot:started",
              "postgres:keep:marked", "postgres:keep:renamed", "store:before-manifest",
              "journal:safety-snapshot:done"]


@pytest.mark.parametrize("point", KEEP_STEPS)
def test_a_manual_restore_killed_while_keeping_the_replaced_database_is_recovered(
        point, pg_engine, placed, ledger):
    project = placed(SEED_AT)
    snapshot = json.loads(project.cli("--json", "snapshot", "create").stdout)["id"]
    at_snapshot = pg_engine.state(project)
    pg_engine.replace(project, HEAD)
    before = pg_engine.state(project)

    run = start(project, "-q", "restore", snapshot, "--yes", env={"SAFEGUARD_FAULT": point})
    code = run.wait()
    run.reap()
    settled = settle(project)
    state = pg_engine.state(project)
    ledger(Tally(tests=1, faults=1, restores=restores_in(project), recoveries=settled.recoveries,
                 data_lost=int(state not in (before, at_snapshot))), fault=f"SIGKILL at {point}")

    # The pre-restore or the restored state; no kept database without its manifest,
    # no manifest naming a database that is gone.
    assert code == -9, run.stderr()
    assert state in (before, at_snapshot)
    assert pg_engine.leftovers(project) == [] and store_leftovers(project) == []


def test_a_signal_while_the_replaced_database_is_being_kept_lets_the_restore_finish(
        pg_engine, placed, ledger):
    """From the swap on, a manual restore completes (interruption.py): a SIGTERM while
    it keeps the replaced database must not stop that half-way nor call it "before
    the swap" (it did: the keep ran in the store's stoppable region)."""
    project = placed(SEED_AT)
    snapshot = json.loads(project.cli("--json", "snapshot", "create").stdout)["id"]
    at_snapshot = pg_engine.state(project)
    pg_engine.replace(project, HEAD)
    before = pg_engine.state(project)

    run = start(project, "-q", "restore", snapshot, "--yes",
                env={"SAFEGUARD_PAUSE": "postgres:keep:marked"})
    try:
        wait_stopped(run)
        os.kill(run.pid, signal.SIGTERM)
        resume(run)
        code = run.wait()
    finally:
        run.reap()
    settled = settle(project)
    state = pg_engine.state(project)
    ledger(Tally(tests=1, faults=1, restores=restores_in(project), recoveries=settled.recoveries,
                 data_lost=int(state not in (before, at_snapshot))), fault="SIGTERM while keeping")

    assert "after the swap" in error_line(run.stderr()), run.stderr()
    assert code != 0 and settled.recoveries == 0
    assert state == at_snapshot
    kept = [s for s in SnapshotStore(project.store).list() if s.payload_kind == "kept database"]
    assert len(kept) == 1
    assert pg_engine.leftovers(project) == [] and store_leftovers(project) == []


def _url_only_in_the_ini(project) -> None:
    """The project as many have it: the URL in alembic.ini's sqlalchemy.url (password
    included), env.py reading it there; no DATABASE_URL, no --url."""
    ini = project.ini.read_text()
    project.ini.write_text(re.sub(r"^sqlalchemy\.url = .*$",
                                  "sqlalchemy.url = " + project.url.replace("%", "%%"), ini, flags=re.M))
    env = project.root / "alembic" / "env.py"
    env.write_text(env.read_text().replace(
        'section["sqlalchemy.url"] = get_database_url()',
        'section["sqlalchemy.url"] = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")'
    ).replace("from logging.config import fileConfig\n", "import os\nfrom logging.config import fileConfig\n"))


def _without_url(project, *args: str, env: dict[str, str] | None = None):
    clean = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run([sys.executable, "-m", "safeguard", "-c", str(project.ini), *args],
                          cwd=project.root, capture_output=True, text=True, env={**clean, **(env or {})})


@pytest.mark.parametrize("point", ["postgres:swap:closed", "postgres:swap:renamed-old"])
@pytest.mark.parametrize("kind", ["upgrade", "restore"])
def test_recover_finishes_a_swap_with_the_url_only_in_alembic_ini(kind, point, pg_engine, placed,
                                                                  ledger):
    """Issue 33, item 10: a crash mid-swap leaves the database closed to connections,
    or renamed away; env.py's URL (the ini's) then reaches nothing, and `recover` could
    not finish the swap unless DATABASE_URL was set. It takes the URL the journal
    recorded (never with its password) and the project's credentials."""
    project = placed(SEED_AT)
    _url_only_in_the_ini(project)
    if kind == "upgrade":
        project.add_revision(FAILING_REVISION, HEAD, FAILING_CHECK)
        before = wanted = pg_engine.state(project)
        args: tuple[str, ...] = ("upgrade", "head")
    else:
        snapshot = json.loads(_without_url(project, "--json", "snapshot", "create").stdout)["id"]
        wanted = pg_engine.state(project)
        pg_engine.replace(project, HEAD)
        before = pg_engine.state(project)
        args = ("restore", snapshot, "--yes")
    killed = _without_url(project, *args, env={**pg_engine.env, "SAFEGUARD_FAULT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    recovered = _without_url(project, "recover", env=pg_engine.env)
    state = pg_engine.state(project) if recovered.returncode == 0 else None  # else unreachable
    ledger(Tally(tests=1, faults=1, recoveries=int(recovered.returncode == 0),
                 restores=restores_in(project), data_lost=int(state not in (before, wanted))),
           fault=f"SIGKILL at {point} ({kind}), URL only in alembic.ini")

    assert recovered.returncode == 0, recovered.stderr
    # The upgrade undone; the restore undone (the swap had not begun: closed) or completed.
    assert state == before if kind == "upgrade" else state in (before, wanted)
    operation = last_operation(project, (kind,))
    assert operation.end is not None
    assert "***" in operation.begun["url"] and pg_engine.server.password not in json.dumps(operation.begun)
    assert pg_engine.leftovers(project) == []
