"""The guarded run on a real MariaDB server: the example chain, and failed runs that
must leave every table's rows and columns, the views, triggers and alembic_version as
they were before the run (MySQL commits each DDL statement: only the snapshot undoes)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
from conftest import HEAD, SEED_AT
from mysql_support import auxiliary_databases, database_state, version_of

from safeguard.backends import backend_for
from safeguard.config import load_settings
from safeguard.errors import LockBusyError

pytestmark = pytest.mark.mysql

DROPS_A_COLUMN_AND_RAISES = """
op.drop_column("properties", "legacy_owner_notes")
raise RuntimeError("boom after dropping a column")
"""
DELETES_ROWS_AND_RAISES = """
op.execute("DELETE FROM transactions WHERE category LIKE '%a%'")
raise RuntimeError("boom after deleting rows")
"""
CREATES_A_TABLE_AND_RAISES = """
op.create_table("leases", sa.Column("id", sa.Integer, primary_key=True))
op.execute("INSERT INTO leases (id) VALUES (1), (2)")
raise RuntimeError("boom after creating a table")
"""
SLOW = """
op.execute("DELETE FROM transactions WHERE category LIKE '%e%'")
op.execute("SELECT SLEEP(30)")
"""


def with_objects(server, database: str) -> None:
    """A view, a trigger, a procedure and an event the restore must bring back."""
    with server.connect(database) as conn, conn.cursor() as cur:
        cur.execute("CREATE VIEW property_names AS SELECT id, name FROM properties")
        cur.execute("CREATE TABLE audit (n VARCHAR(64)) ENGINE=InnoDB")
        cur.execute("CREATE TRIGGER properties_audit AFTER DELETE ON properties "
                    "FOR EACH ROW INSERT INTO audit VALUES (OLD.id)")
        cur.execute("CREATE PROCEDURE property_count() SELECT count(*) FROM properties")
        cur.execute("CREATE EVENT purge_audit ON SCHEDULE EVERY 1 DAY DO DELETE FROM audit")


def test_the_example_chain_runs_from_empty_to_the_seed_revision_with_demo_rows(mysql_seeded,
                                                                            mysql_server):
    # mysql_seeded ran the chain from an empty database to SEED_AT under safeguard,
    # then the real seed script filled it.
    assert version_of(mysql_server, mysql_seeded.database) == [SEED_AT]
    assert len(database_state(mysql_server, mysql_seeded.database)["contents"]["properties"]) > 0


def test_the_example_chain_reaches_head_with_the_demo_rows(mysql_seeded, mysql_server):
    # From the seeded revision (reached from an empty database) to head: the renames
    # (CHANGE COLUMN needs existing_type), the year_built cast, the full_address backfill.
    with mysql_server.connect(mysql_seeded.database) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, property_type, address, city, state FROM properties ORDER BY id")
        before = cur.fetchall()

    result = mysql_seeded.cli("upgrade", "head")

    assert "drift: the schema matches the models" in result.stderr, result.stderr
    assert version_of(mysql_server, mysql_seeded.database) == [HEAD]
    with mysql_server.connect(mysql_seeded.database) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, usage_type, full_address FROM properties ORDER BY id")
        after = cur.fetchall()
    assert before and len(after) == len(before)
    assert [(i, kind) for i, kind, _full in after] == [(i, kind) for i, kind, *_ in before]
    assert [full for *_, full in after] == [
        f"{address}, {city}, {state}" if address is not None else None
        for *_, address, city, state in before]
    assert auxiliary_databases(mysql_server, mysql_seeded.database) == []


@pytest.mark.parametrize("body", [DROPS_A_COLUMN_AND_RAISES, DELETES_ROWS_AND_RAISES,
                                  CREATES_A_TABLE_AND_RAISES],
                         ids=["drop-column", "delete-rows", "create-table"])
def test_a_failed_revision_leaves_the_pre_run_state(mysql_seeded, mysql_server, body):
    with_objects(mysql_server, mysql_seeded.database)
    mysql_seeded.add_revision("a1b2c3d4e5f6", SEED_AT, body, doc="fails")
    mysql_seeded.configure(policy="always")
    pre_run = database_state(mysql_server, mysql_seeded.database)

    result = mysql_seeded.cli("--json", "upgrade", "a1b2c3d4e5f6", expect=6)

    assert json.loads(result.stdout)["result"]["restored"] is True
    assert "boom after" in result.stderr, result.stderr  # it failed where it was meant to
    assert database_state(mysql_server, mysql_seeded.database) == pre_run
    assert version_of(mysql_server, mysql_seeded.database) == [SEED_AT]
    assert auxiliary_databases(mysql_server, mysql_seeded.database) == []


def test_a_run_stopped_by_timeout_leaves_the_pre_run_state(mysql_seeded, mysql_server):
    with_objects(mysql_server, mysql_seeded.database)
    mysql_seeded.add_revision("a1b2c3d4e5f6", SEED_AT, SLOW, doc="slow")
    pre_run = database_state(mysql_server, mysql_seeded.database)

    result = mysql_seeded.cli("upgrade", "a1b2c3d4e5f6", "--timeout", "3", expect=None)

    assert result.exit_code != 0 and "restored snapshot" in result.stderr, result.stderr

    assert database_state(mysql_server, mysql_seeded.database) == pre_run
    assert version_of(mysql_server, mysql_seeded.database) == [SEED_AT]


def test_a_table_no_transaction_freezes_is_refused_with_one_line(mysql_seeded, mysql_server):
    with mysql_server.connect(mysql_seeded.database) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE counters (n INT) ENGINE=MyISAM")
    pre_run = database_state(mysql_server, mysql_seeded.database)

    result = mysql_seeded.cli("upgrade", "head", "--policy", "always", expect=None)

    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("safeguard: error:")]
    assert len(lines) == 1 and "counters (MyISAM)" in lines[0], result.stderr
    assert database_state(mysql_server, mysql_seeded.database) == pre_run


# -- one guarded operation at a time, across stores (hosts) -----------------------------

SLOW_SIDE_EFFECT = """
op.create_table("migration_runs", sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("at", sa.String(40)))
op.execute("INSERT INTO migration_runs (at) VALUES ('ran')")
op.execute("SELECT SLEEP(3)")
"""


def test_two_migrators_with_their_own_stores_run_a_slow_revision_once(mysql_seeded, mysql_server,
                                                                      tmp_path):
    mysql_seeded.add_revision("a1b2c3d4e5f6", SEED_AT, SLOW_SIDE_EFFECT, doc="slow")
    mysql_seeded.configure(metadata="")  # migration_runs is not in the models
    argv = [sys.executable, "-m", "safeguard", "-c", str(mysql_seeded.ini), "--url",
            mysql_seeded.url, "upgrade", "a1b2c3d4e5f6", "--lock-timeout", "60"]
    runners = [subprocess.Popen(argv, cwd=mysql_seeded.root, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "SAFEGUARD_STORE": str(tmp_path / f"store-{i}")})
               for i in range(2)]
    results = [(r.wait(timeout=60), r.communicate()[1]) for r in runners]

    assert [code for code, _ in results] == [0, 0], results
    with mysql_server.connect(mysql_seeded.database) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM migration_runs")
        assert cur.fetchone()[0] == 1  # the side effect happened once
    assert version_of(mysql_server, mysql_seeded.database) == ["a1b2c3d4e5f6"]


def test_the_named_lock_stops_a_runner_with_another_store_with_exit_4(mysql_seeded, mysql_server,
                                                                       tmp_path):
    settings = load_settings(mysql_seeded.ini, url=mysql_seeded.url)
    with backend_for(mysql_seeded.url, settings).session_lock(0):
        result = mysql_seeded.run("upgrade", "head", "--lock-timeout", "1",
                                  env={**os.environ, "SAFEGUARD_STORE": str(tmp_path / "other")})
        with pytest.raises(LockBusyError, match="named lock"):
            with backend_for(mysql_seeded.url, settings).session_lock(0):
                pass
    assert result.returncode == 4, result.stderr
    assert "named lock" in result.stderr and "connection" in result.stderr
    assert version_of(mysql_server, mysql_seeded.database) == [SEED_AT]


def test_a_dump_tool_older_than_the_server_is_refused_before_anything_is_written(
        mysql_seeded, mysql_server, tmp_path, monkeypatch):
    shim = tmp_path / "old-bin"
    shim.mkdir()
    real = shutil.which("mariadb-dump")
    (shim / "mariadb-dump").write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "mariadb-dump  Ver 10.19 Distrib 10.5.1-MariaDB, '
        'for debian-linux-gnu (x86_64)"; exit 0; fi\n'
        f'exec "{real}" "$@"\n')
    (shim / "mariadb-dump").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    before = database_state(mysql_server, mysql_seeded.database)

    result = mysql_seeded.cli("-q", "upgrade", "head", "--policy", "always", expect=3)

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "10.5.1" in lines[0] and "older than the server" in lines[0], lines
    assert database_state(mysql_server, mysql_seeded.database) == before
    assert not any((mysql_seeded.store / "snapshots").glob("*")) if (
        mysql_seeded.store / "snapshots").exists() else True


@pytest.mark.parametrize("case", ["wrong password", "closed port", "missing database"])
def test_an_unusable_connection_is_one_clear_line(mysql_seeded, mysql_server, case):
    before = database_state(mysql_server, mysql_seeded.database)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    url = {
        "wrong password": mysql_server.url_for(mysql_seeded.database, password="not-the-password"),
        "closed port": mysql_server.url_for(mysql_seeded.database, port=closed_port),
        "missing database": mysql_server.url_for("no_such_database"),
    }[case]

    result = mysql_seeded.cli("--url", url, "upgrade", "head", "--policy", "always", expect=None)

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1 and lines[0].startswith("safeguard: error:"), (
        result.exit_code, result.stderr)
    assert "not-the-password" not in result.stderr
    assert database_state(mysql_server, mysql_seeded.database) == before


def test_the_plan_says_every_run_is_undone_by_a_snapshot(mysql_seeded):
    mysql_seeded.add_revision("a1b2c3d4e5f6", SEED_AT,
                              'op.create_index("ix_properties_city", "properties", ["city"])',
                              doc="safe")

    result = mysql_seeded.cli("plan", "a1b2c3d4e5f6")

    assert "because MySQL commits DDL statement by statement: only a snapshot undoes a run" in (
        result.stdout)


def test_a_snapshot_taken_while_the_application_writes_counts_what_it_dumped(mysql_url, tmp_path):
    """The counts and the dump describe one instant, whatever is committed meanwhile:
    loaded back, the dump has exactly the manifest's rows."""
    import threading

    from safeguard.manifest import Snapshot

    backend = backend_for(mysql_url)
    server = backend.server
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(40)) "
                    "ENGINE=InnoDB")
        cur.execute("INSERT INTO orders (note) SELECT 'seed' FROM seq_1_to_20000")
    stop = threading.Event()
    written = []

    def write() -> None:
        with server.connect() as conn, conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("INSERT INTO orders (note) VALUES ('live')")
                written.append(1)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for attempt in range(3):
            directory = tmp_path / f"snap{attempt}"
            directory.mkdir()
            payload = backend.snapshot(directory)
            manifest = Snapshot(id=f"s{attempt}", created_at="", reason="", engine="mysql",
                                database="-", revisions=(), size=payload.size, sha256="-",
                                files=dict(payload.files), row_counts=dict(payload.row_counts),
                                extra=dict(payload.extra))
            assert backend.verify_payload(directory, manifest) == []
    finally:
        stop.set()
        writer.join()
    assert len(written) > 10  # the application did write during the snapshots


def test_a_failing_health_check_leaves_the_pre_run_state(mysql_seeded, mysql_server):
    # The team's own check fails once the column exists (below head, where the drift
    # check does not compare with the models; at head, see the drift test).
    with_objects(mysql_server, mysql_seeded.database)
    mysql_seeded.add_revision("a1b2c3d4e5f6", SEED_AT,
                              'op.add_column("properties", sa.Column("zoning_code", sa.String(20)))',
                              doc="adds a column the team's check forbids")
    mysql_seeded.configure(sql_check__no_zoning_code=(
        "SELECT count(*) = 0 FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND column_name = 'zoning_code'"))
    pre_run = database_state(mysql_server, mysql_seeded.database)

    result = mysql_seeded.cli("upgrade", "a1b2c3d4e5f6", expect=7)

    assert "no_zoning_code" in result.stderr and "restored snapshot" in result.stderr, result.stderr
    assert "could not be read" not in result.stderr  # the footprint reads MySQL's statements
    assert database_state(mysql_server, mysql_seeded.database) == pre_run
    assert version_of(mysql_server, mysql_seeded.database) == [SEED_AT]
    assert auxiliary_databases(mysql_server, mysql_seeded.database) == []


# -- other sessions holding the tables the swap must move -------------------------------

def hold_tables(server, database: str, *tables: str):
    """A second session with an open transaction that read ``tables``: it holds their
    metadata locks until it ends (as an application's long transaction does)."""
    conn = server.connect(database)
    with conn.cursor() as cur:
        cur.execute("START TRANSACTION")
        for table in tables:
            cur.execute(f"SELECT count(*) FROM `{table}`")
        cur.execute("SELECT CONNECTION_ID()")
        return conn, cur.fetchone()[0]


@pytest.mark.parametrize("held", ["properties", "transactions"],
                         ids=["held-table-has-the-trigger", "held-table-has-none"])
def test_a_restore_whose_swap_is_held_up_fails_naming_the_session_and_changes_nothing(
        mysql_seeded, mysql_server, held):
    # properties: dropping its trigger waits; transactions: the trigger is dropped, the
    # RENAME TABLE waits, and the trigger must be put back.
    with_objects(mysql_server, mysql_seeded.database)
    mysql_seeded.configure(table_lock_timeout="2")
    snap = json.loads(mysql_seeded.cli("--json", "snapshot", "create").stdout)["id"]
    with mysql_server.connect(mysql_seeded.database) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM transactions WHERE category LIKE '%a%'")  # after the snapshot
    before = database_state(mysql_server, mysql_seeded.database)
    holder, holder_id = hold_tables(mysql_server, mysql_seeded.database, held)
    try:
        result = mysql_seeded.run("restore", snap, "--yes", timeout=60)
    finally:
        holder.close()

    errors = [line for line in result.stderr.splitlines() if line.startswith("safeguard: error:")]
    assert result.returncode == 8 and len(errors) == 1, result.stderr
    assert f"id {holder_id}" in errors[0] and "table_lock_timeout" in errors[0], errors
    assert "not changed" in errors[0], errors
    assert database_state(mysql_server, mysql_seeded.database) == before
    assert auxiliary_databases(mysql_server, mysql_seeded.database) == []
    assert "nothing to recover" in mysql_seeded.run("recover").stderr.lower()


def test_a_guarded_run_whose_undo_is_held_up_says_so_and_recover_restores(
        mysql_seeded, mysql_server):
    with_objects(mysql_server, mysql_seeded.database)
    mysql_seeded.add_revision("a1b2c3d4e5f6", SEED_AT, DELETES_ROWS_AND_RAISES, doc="fails")
    mysql_seeded.configure(policy="always", table_lock_timeout="2")
    pre_run = database_state(mysql_server, mysql_seeded.database)
    holder, holder_id = hold_tables(mysql_server, mysql_seeded.database, "properties")
    try:
        result = mysql_seeded.run("upgrade", "a1b2c3d4e5f6", timeout=60)
        refused = mysql_seeded.run("upgrade", "a1b2c3d4e5f6", timeout=60)
    finally:
        holder.close()

    assert result.returncode == 8, result.stderr
    assert "boom after" in result.stderr and f"id {holder_id}" in result.stderr, result.stderr
    assert "safeguard recover" in result.stderr, result.stderr
    assert refused.returncode == 9, refused.stderr  # the journal keeps the run open
    recovered = mysql_seeded.run("recover", timeout=60)
    assert recovered.returncode == 0, recovered.stderr
    assert database_state(mysql_server, mysql_seeded.database) == pre_run
    assert version_of(mysql_server, mysql_seeded.database) == [SEED_AT]
    assert auxiliary_databases(mysql_server, mysql_seeded.database) == []


# -- a killed runner's statement, still running on the server --------------------------

# Not SLEEP(): MariaDB ends a sleep within seconds of its client's disconnection.
LONG_STATEMENT = "SELECT BENCHMARK(3000000000, MD5('x'))"
DELETES_ROWS_THEN_COMPUTES = f"""
op.execute("DELETE FROM transactions WHERE category LIKE '%a%'")
op.execute("{LONG_STATEMENT}")
"""


def test_recover_ends_the_session_a_killed_runner_left_running(mysql_seeded, mysql_server):
    import signal
    import time

    mysql_seeded.add_revision("a1b2c3d4e5f6", SEED_AT, DELETES_ROWS_THEN_COMPUTES, doc="slow")
    mysql_seeded.configure(policy="always", table_lock_timeout="5")
    pre_run = database_state(mysql_server, mysql_seeded.database)
    runner = subprocess.Popen(
        [sys.executable, "-m", "safeguard", "-c", str(mysql_seeded.ini), "--url", mysql_seeded.url,
         "upgrade", "a1b2c3d4e5f6"], cwd=mysql_seeded.root, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    with mysql_server.connect() as conn, conn.cursor() as cur:
        for _ in range(600):  # until the revision computes, holding its rows and tables
            cur.execute("SELECT id FROM information_schema.processlist WHERE info = %s", (LONG_STATEMENT,))
            sleeper = cur.fetchone()
            if sleeper or runner.poll() is not None:
                break
            time.sleep(0.1)
    assert sleeper, "the revision never reached its long statement"
    runner.send_signal(signal.SIGKILL)
    runner.wait()

    started = time.monotonic()
    try:
        recovered = mysql_seeded.run("recover", timeout=120)
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM information_schema.processlist WHERE info = %s", (LONG_STATEMENT,))
            for (left,) in cur.fetchall():
                cur.execute(f"KILL {left}")

    assert recovered.returncode == 0, recovered.stderr
    assert time.monotonic() - started < 60
    assert database_state(mysql_server, mysql_seeded.database) == pre_run
    assert version_of(mysql_server, mysql_seeded.database) == [SEED_AT]
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.processlist WHERE id = %s", (sleeper[0],))
        assert cur.fetchone()[0] == 0  # the killed runner's session is gone


def test_a_drift_from_the_models_at_head_fails_the_run_and_restores(mysql_seeded, mysql_server):
    # The example models describe head: a revision past it that adds a column they do
    # not have fails the drift check, and the snapshot brings back the state at head.
    mysql_seeded.cli("upgrade", "head", "--policy", "never")
    with_objects(mysql_server, mysql_seeded.database)
    mysql_seeded.add_revision("a1b2c3d4e5f6", HEAD,
                              'op.add_column("properties", sa.Column("zoning_code", sa.String(20)))',
                              doc="adds a column the models do not have")
    mysql_seeded.configure(policy="always")
    pre_run = database_state(mysql_server, mysql_seeded.database)

    result = mysql_seeded.cli("upgrade", "a1b2c3d4e5f6", expect=7)

    assert "drift" in result.stderr and "zoning_code" in result.stderr, result.stderr
    assert "restored snapshot" in result.stderr, result.stderr
    assert database_state(mysql_server, mysql_seeded.database) == pre_run
    assert version_of(mysql_server, mysql_seeded.database) == [HEAD]
    assert auxiliary_databases(mysql_server, mysql_seeded.database) == []
