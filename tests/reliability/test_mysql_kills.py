"""SIGKILL at a random instant of a guarded upgrade and of a manual restore on MariaDB,
then `safeguard recover`: the database is the pre-run state or the finished one,
table by table (rows, columns, views, triggers, routines, alembic_version), never a
mix, and the journal says which; no auxiliary database is left beside it.

MySQL commits each DDL statement, so the upgrade's undo is always its snapshot, and a
restore swaps tables in with one RENAME TABLE (backends/mysql/swap.py): these runs
aim kills at the load, the swap and the objects recreated after it. Each seed picks
the instant (uniformly over the measured duration of an uninterrupted run, plus a
tenth) and whether the process dies alone (the OOM killer) or with its children (the
client tools die with it anyway: PR_SET_PDEATHSIG). A failing run prints the command
that replays it: `SAFEGUARD_FAULT_SEED=<seed> pytest '<test>'`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import time
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import REPO, SEED_AT, ProjectDir, seed
from mysql_support import MySQLProjectDir, auxiliary_databases, database_state

from .ledger import Tally
from .processes import start
from .states import journal_says, last_operation, restores_in, settle, store_leftovers, which

pytestmark = [pytest.mark.reliability, pytest.mark.mysql]

REVISION = "d4e5f6a1b2c3"
# Destructive (a snapshot first), several DDL statements, slow enough to be hit inside.
MIGRATION = """
op.create_table("leases", sa.Column("id", sa.Integer, primary_key=True), sa.Column("note", sa.String(40)))
op.execute("INSERT INTO leases (id, note) SELECT seq, 'lease' FROM seq_1_to_200")
op.drop_column("properties", "legacy_owner_notes")
op.execute("DELETE FROM transactions WHERE category LIKE '%a%'")
op.execute("SELECT SLEEP(0.3)")
"""
OBJECTS = (
    "CREATE VIEW property_names AS SELECT id, name FROM properties",
    "CREATE TABLE audit (n VARCHAR(64)) ENGINE=InnoDB",
    "CREATE TRIGGER properties_audit AFTER DELETE ON properties FOR EACH ROW "
    "INSERT INTO audit VALUES (OLD.id)",
    "CREATE PROCEDURE property_count() SELECT count(*) FROM properties",
)


@dataclass(frozen=True)
class Template:
    database: str
    seeded: dict[str, Any]  # the state at SEED_AT, with the objects above
    migrated: dict[str, Any]  # ... after MIGRATION
    upgrade_s: float  # an uninterrupted guarded upgrade
    restore_s: float  # an uninterrupted restore


def copy_database(server, source: str) -> str:
    """A new database with ``source``'s tables (foreign keys included), rows, views,
    triggers and procedures."""
    from safeguard.backends.mysql import catalog

    target = server.create_database("sg_kill")
    with server.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION foreign_key_checks = 0")
        for table in catalog.tables(cur, source):
            cur.execute(f"SHOW CREATE TABLE `{source}`.`{table}`")
            cur.execute(cur.fetchone()[1])
            cur.execute(f"INSERT INTO `{table}` SELECT * FROM `{source}`.`{table}`")
        catalog.create_objects(cur, target, catalog.objects(cur, source))
    return target


def project_on(root, server, database: str) -> MySQLProjectDir:
    return MySQLProjectDir(root, server.url_for(database))


def fresh_project(tmp_path_factory) -> ProjectDir:
    root = tmp_path_factory.mktemp("mysql-kill") / "project"
    root.mkdir()
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "alembic", root / "alembic", ignore=shutil.ignore_patterns("__pycache__"))
    project = ProjectDir(root)
    project.add_revision(REVISION, SEED_AT, MIGRATION, doc="leases")
    # The new table is not in the models: the drift check is not what is tested here.
    project.configure(metadata="")
    return project


@pytest.fixture(scope="session")
def mysql_template(mysql_server, tmp_path_factory) -> Template:
    base = fresh_project(tmp_path_factory)
    name = mysql_server.create_database("sg_kill_template")
    try:
        project = project_on(base.root, mysql_server, name)
        done = project.run("upgrade", SEED_AT, "--policy", "never")
        assert done.returncode == 0, done.stderr
        seed(project, rows=30)
        with mysql_server.connect(name) as conn, conn.cursor() as cur:
            for statement in OBJECTS:
                cur.execute(statement)
        seeded = database_state(mysql_server, name)

        copy = project_on(base.root, mysql_server, copy_database(mysql_server, name))
        began = time.monotonic()
        done = copy.run("upgrade", REVISION)
        upgrade_s = time.monotonic() - began
        assert done.returncode == 0, done.stderr
        migrated = database_state(mysql_server, copy.database)
        snapshot = json.loads(copy.run("--json", "snapshot", "list").stdout)
        ids = [s["id"] for s in (snapshot if isinstance(snapshot, list) else snapshot["snapshots"])]
        began = time.monotonic()
        done = copy.run("restore", ids[-1], "--yes")
        restore_s = time.monotonic() - began
        assert done.returncode == 0, done.stderr
        assert database_state(mysql_server, copy.database) == seeded
        mysql_server.drop_database(copy.database)
        shutil.rmtree(copy.store, ignore_errors=True)
        yield Template(name, seeded, migrated, upgrade_s, restore_s)
    finally:
        mysql_server.drop_database(name)


def kill_at(project, args: tuple[str, ...], at: float, group: bool) -> tuple[int, float]:
    run = start(project, *args)
    try:
        time.sleep(at)
        landed_at = time.monotonic() - run.started
        run.kill(group=group)
        return run.wait(), landed_at
    finally:
        run.reap()


def interrupt(kind: str, seed_: int, mysql_server, mysql_template: Template, tmp_path_factory,
              ledger) -> None:
    rng = random.Random(seed_)
    project = fresh_project(tmp_path_factory)
    project = project_on(project.root, mysql_server, copy_database(mysql_server, mysql_template.database))
    try:
        if kind == "upgrade":
            args, duration = ("upgrade", REVISION), mysql_template.upgrade_s
            named = {"pre": mysql_template.seeded, "post": mysql_template.migrated}
        else:
            snap = json.loads(project.cli("--json", "snapshot", "create").stdout)["id"]
            project.cli("upgrade", REVISION, "--policy", "never")
            args, duration = ("restore", snap, "--yes"), mysql_template.restore_s
            named = {"pre": mysql_template.migrated, "post": mysql_template.seeded}
        at, group = rng.random() * duration * 1.1, rng.random() < 0.5
        code, landed_at = kill_at(project, args, at, group)
        landed = code == -signal.SIGKILL
        test = os.environ.get("PYTEST_CURRENT_TEST", "tests/reliability").split("[")[0]
        context = (f"[replay: SAFEGUARD_FAULT_SEED={seed_} pytest '{test}'] {kind} on mariadb, "
                   f"killed at {landed_at:.3f}s of {duration:.3f}s "
                   f"({'group' if group else 'alone'}), exit {code}")

        settled = settle(project)
        state = database_state(mysql_server, project.database)
        found = which(state, named)
        said = journal_says(last_operation(project, (kind,)))
        ledger(Tally(tests=1, faults=int(landed), missed=int(not landed),
                     restores=restores_in(project), recoveries=settled.recoveries,
                     data_lost=int(found is None)),
               seed=seed_, killed_at=round(landed_at, 3), state=found, journal=said)
        assert found is not None, f"{context}: neither the pre-run nor the finished state"
        assert found == said, f"{context}: the database is the {found} state, the journal says {said}"
        assert auxiliary_databases(mysql_server, project.database) == [], context
        assert store_leftovers(project) == [], context
    finally:
        mysql_server.drop_database(project.database)


@pytest.mark.runs(mysql=12)
def test_a_mariadb_upgrade_killed_at_random_is_pre_run_or_migrated(
        engine, seed, mysql_server, mysql_template, tmp_path_factory, ledger):
    interrupt("upgrade", seed, mysql_server, mysql_template, tmp_path_factory, ledger)


@pytest.mark.runs(mysql=10)
def test_a_mariadb_restore_killed_at_random_is_before_or_restored(
        engine, seed, mysql_server, mysql_template, tmp_path_factory, ledger):
    interrupt("restore", seed, mysql_server, mysql_template, tmp_path_factory, ledger)
