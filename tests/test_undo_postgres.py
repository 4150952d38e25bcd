"""Issue 13 on PostgreSQL: a run that stays inside env.py's one transaction is undone
by that transaction, health checks included; whatever steps outside it gets a snapshot.

The example app's smoke check opens its own connection (it could only judge the
database after the commit), so these tests turn it off to have the transaction as the
undo; the other checks (integrity, revision, drift, data guard, the sql_check) run
inside the run's transaction. "No snapshot" is proved on disk: the store holds none.
"""

from __future__ import annotations

import json

import pytest
from conftest import HEAD
from postgres_support import database_state, version_of

from test_undo import (
    ADD_NULLABLE,
    CREATE_INSERT,
    CREATE_INSERT_RAISE,
    CREATE_TABLE,
    MODELS_WITH_NICKNAME,
    NEW,
)

pytestmark = pytest.mark.postgres

#: CREATE INDEX CONCURRENTLY must run outside a transaction; on duplicates it fails and
#: leaves an INVALID index behind.
CONCURRENT_INDEX_THEN_FAIL = '''
with op.get_context().autocommit_block():
    op.execute("CREATE UNIQUE INDEX CONCURRENTLY ix_properties_state ON properties (state)")
'''
CONCURRENT_INDEX_THEN_RAISE = '''
with op.get_context().autocommit_block():
    op.execute("CREATE INDEX CONCURRENTLY ix_properties_city ON properties (city)")
raise RuntimeError("after the concurrent index")
'''
#: MF101 only: a unique index over a column that holds duplicates (demo states repeat).
UNIQUE_ON_DUPLICATES = 'op.create_index("ix_properties_state_unique", "properties", ["state"], unique=True)'


@pytest.fixture
def pg_head(pg_at_head):
    pg_at_head.configure(smoke_check="")
    return pg_at_head


def _snapshots(project) -> list[str]:
    directory = project.store / "snapshots"
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def _plan(project) -> dict:
    return json.loads(project.cli("--json", "plan").stdout)


def _assert_rolled_back(project, pg_server, before, result, exit_code) -> dict:
    assert result.returncode == exit_code, result.stderr
    assert database_state(pg_server, project.database) == before
    assert version_of(pg_server, project.database) == [HEAD]
    report = json.loads(result.stdout)
    assert report["result"]["outcome"] == "rolled-back" and report["result"]["restored"] is True
    assert report["result"]["snapshot"] is None and _snapshots(project) == []
    assert "transaction was rolled back" in report["error"]
    return report


def test_a_revision_that_creates_a_table_inserts_and_raises_is_rolled_back(pg_head, pg_server):
    pg_head.configure(metadata="")
    before = database_state(pg_server, pg_head.database)
    pg_head.add_revision(NEW, HEAD, CREATE_INSERT_RAISE)
    plan = _plan(pg_head)
    assert plan["undo"]["by"] == "transaction", plan["undo"]
    assert "Undo: transaction (env.py runs the whole run in one transaction" in pg_head.cli("plan").stdout
    _assert_rolled_back(pg_head, pg_server, before, pg_head.run("--json", "upgrade", "head"), 6)

    pg_head.add_revision(NEW, HEAD, CREATE_INSERT)
    pg_head.cli("upgrade", "head")
    assert version_of(pg_server, pg_head.database) == [NEW] and _snapshots(pg_head) == []


def test_a_nullable_column_that_fails_the_drift_check_is_rolled_back(pg_head, pg_server):
    before = database_state(pg_server, pg_head.database)
    pg_head.add_revision(NEW, HEAD, ADD_NULLABLE)
    assert _plan(pg_head)["undo"]["by"] == "transaction"
    report = _assert_rolled_back(pg_head, pg_server, before, pg_head.run("--json", "upgrade", "head"), 7)
    assert "properties.nickname" in report["error"]
    checks = {c["name"]: c["status"] for c in report["result"]["health"]["checks"]}
    assert checks["drift"] == "failed" and checks["integrity"] == "passed" and "smoke" not in checks

    (pg_head.root / "models_v2.py").write_text(MODELS_WITH_NICKNAME)
    pg_head.configure(metadata="models_v2:metadata")
    done = pg_head.run("upgrade", "head")
    assert done.returncode == 0, done.stderr
    assert version_of(pg_server, pg_head.database) == [NEW]


def test_a_new_table_that_fails_a_sql_check_is_rolled_back(pg_head, pg_server):
    pg_head.configure(metadata="", sql_check__notes_are_empty="SELECT count(*) = 0 FROM notes")
    before = database_state(pg_server, pg_head.database)
    pg_head.add_revision(NEW, HEAD, CREATE_INSERT)
    report = _assert_rolled_back(pg_head, pg_server, before, pg_head.run("--json", "upgrade", "head"), 7)
    assert "sql:notes_are_empty" in report["error"]

    pg_head.add_revision(NEW, HEAD, CREATE_TABLE)
    pg_head.cli("upgrade", "head")
    assert version_of(pg_server, pg_head.database) == [NEW] and _snapshots(pg_head) == []


def test_a_unique_index_on_duplicates_is_may_fail_and_rolled_back(pg_head, pg_server):
    before = database_state(pg_server, pg_head.database)
    pg_head.add_revision(NEW, HEAD, UNIQUE_ON_DUPLICATES)
    plan = _plan(pg_head)
    [step] = plan["steps"]
    assert step["verdict"] == "safe" and step["may_fail"] is True
    assert [f["code"] for f in step["findings"]] == ["MF101"]
    assert plan["undo"]["by"] == "transaction"
    assert "warning: MF101" in pg_head.cli("plan").stdout
    _assert_rolled_back(pg_head, pg_server, before, pg_head.run("--json", "upgrade", "head"), 6)


def test_a_concurrent_index_in_an_autocommit_block_is_undone_by_a_snapshot(pg_head, pg_server):
    pg_head.configure(metadata="")
    before = database_state(pg_server, pg_head.database)
    pg_head.add_revision(NEW, HEAD, CONCURRENT_INDEX_THEN_FAIL)
    plan = _plan(pg_head)
    assert plan["undo"]["by"] == "snapshot" and "outside the run's transaction" in plan["undo"]["reason"]
    failed = pg_head.run("--json", "upgrade", "head")
    assert failed.returncode == 6, failed.stderr
    assert json.loads(failed.stdout)["result"]["outcome"] == "restored"
    assert database_state(pg_server, pg_head.database) == before  # no invalid index left
    with pg_server.connect(pg_head.database) as conn:
        assert conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()[0] == 0


def test_a_failure_after_a_committed_autocommit_block_is_undone_by_a_snapshot(pg_head, pg_server):
    pg_head.configure(metadata="")
    before = database_state(pg_server, pg_head.database)
    pg_head.add_revision(NEW, HEAD, CONCURRENT_INDEX_THEN_RAISE)
    failed = pg_head.run("--json", "upgrade", "head")
    assert failed.returncode == 6, failed.stderr
    assert database_state(pg_server, pg_head.database) == before  # the committed index is gone


def test_an_env_py_with_transaction_per_migration_gets_a_snapshot(pg_head, pg_server):
    env = pg_head.root / "alembic" / "env.py"
    env.write_text(env.read_text().replace("compare_type=True,\n            render_as_batch",
                                           "compare_type=True,\n            transaction_per_migration=True,"
                                           "\n            render_as_batch"))
    assert "transaction_per_migration=True" in env.read_text()
    pg_head.configure(metadata="")
    before = database_state(pg_server, pg_head.database)
    pg_head.add_revision(NEW, HEAD, CREATE_INSERT_RAISE)
    plan = _plan(pg_head)
    assert plan["undo"]["by"] == "snapshot" and "transaction_per_migration" in plan["undo"]["reason"]
    failed = pg_head.run("--json", "upgrade", "head")
    assert failed.returncode == 6, failed.stderr
    assert json.loads(failed.stdout)["result"]["outcome"] == "restored"
    assert database_state(pg_server, pg_head.database) == before


def test_the_smoke_check_makes_the_undo_a_snapshot(pg_at_head):
    """The example app's smoke check opens its own connection: it could only judge the
    database after the commit, so the run keeps a snapshot to go back to."""
    pg_at_head.add_revision(NEW, HEAD, CREATE_TABLE)
    plan = _plan(pg_at_head)
    assert plan["undo"]["by"] == "snapshot" and "smoke" in plan["undo"]["reason"]


def test_a_timeout_makes_the_undo_a_snapshot(pg_head):
    pg_head.add_revision(NEW, HEAD, CREATE_TABLE)
    assert _plan(pg_head)["undo"]["by"] == "transaction"
    plan = json.loads(pg_head.cli("--json", "upgrade", "--dry-run", "--timeout", "5").stdout)["plan"]
    assert plan["undo"]["by"] == "snapshot" and "--timeout" in plan["undo"]["reason"]


def test_a_failed_downgrade_is_rolled_back_by_its_transaction(pg_head, pg_server):
    """Downgrades follow the same invariant: one that loses nothing is undone by the
    run's transaction; one that drops things gets a snapshot."""
    pg_head.configure(metadata="")
    path = pg_head.add_revision(NEW, HEAD, CREATE_TABLE)
    pg_head.cli("upgrade", "head")
    path.write_text(path.read_text().replace(
        "def downgrade():\n    pass",
        'def downgrade():\n    op.create_index("ix_notes_id", "notes", ["id"])\n'
        '    raise RuntimeError("half-way down")'))
    before = database_state(pg_server, pg_head.database)
    plan = json.loads(pg_head.cli("--json", "plan", "--downgrade", HEAD).stdout)
    assert plan["undo"]["by"] == "transaction", plan["undo"]
    failed = pg_head.run("--json", "downgrade", HEAD)
    assert failed.returncode == 6, failed.stderr
    assert json.loads(failed.stdout)["result"]["outcome"] == "rolled-back"
    assert database_state(pg_server, pg_head.database) == before and _snapshots(pg_head) == []

    path.write_text(path.read_text().replace('    op.create_index("ix_notes_id", "notes", ["id"])\n',
                                             '    op.drop_table("notes")\n'))
    plan = json.loads(pg_head.cli("--json", "plan", "--downgrade", HEAD).stdout)
    assert plan["undo"]["by"] == "snapshot" and "destructive (DS102)" in plan["undo"]["reason"]


NOTES_CHECK = '''
import sqlalchemy as sa


def notes_are_empty(conn):
    count = conn.execute(sa.text("SELECT count(*) FROM notes")).scalar()
    return count == 0, f"{count} notes"
'''


def test_a_python_check_judges_the_uncommitted_run(pg_head, pg_server):
    """A Python check gets the migration's own connection: it sees the new table before
    the commit, and its failure rolls the run back."""
    (pg_head.root / "team_checks.py").write_text(NOTES_CHECK)
    pg_head.configure(metadata="", checks="team_checks:notes_are_empty")
    before = database_state(pg_server, pg_head.database)
    pg_head.add_revision(NEW, HEAD, CREATE_INSERT)
    assert _plan(pg_head)["undo"]["by"] == "transaction"
    report = _assert_rolled_back(pg_head, pg_server, before, pg_head.run("--json", "upgrade", "head"), 7)
    assert "python:team_checks:notes_are_empty failed: 1 notes" in report["error"]

    pg_head.add_revision(NEW, HEAD, CREATE_TABLE)
    done = pg_head.run("upgrade", "head")
    assert done.returncode == 0, done.stderr
    assert version_of(pg_server, pg_head.database) == [NEW]


def test_checks_inside_the_transaction_read_the_run_footprint_through_the_open_transaction(pg_head, pg_server):
    """The commit gate's checks see the schema as the run's own transaction does (read
    in a savepoint that is rolled back): only the tables the run touched are checked,
    and the run commits without the snapshot it did not need."""
    pg_head.configure(metadata="")
    pg_head.add_revision(NEW, HEAD, CREATE_INSERT)
    report = json.loads(pg_head.cli("--json", "upgrade", "head").stdout)
    assert report["outcome"] == "migrated" and report["snapshot"] is None, report
    checks = {c["name"]: c for c in report["health"]["checks"]}
    for name in ("integrity", "data_guard"):
        detail = checks[name]["detail"]
        assert checks[name]["status"] == "passed", checks[name]
        assert "touched (alembic_version, notes)" in detail, detail
        assert "whole database" not in detail and "properties" not in detail, detail
    assert version_of(pg_server, pg_head.database) == [NEW]
    assert _snapshots(pg_head) == []
