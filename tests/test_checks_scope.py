"""The checks after a run cost what the run changed: integrity and row counts on the
tables it touched and the tables referencing them, the whole database only when what
it touched cannot be known (and then saying why), and time limits that grow with the
database so that a large one cannot turn a good migration into a rollback."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from conftest import table_contents, version_of

from safeguard import health
from safeguard.config import load_settings
from safeguard.reporting import size_words
from safeguard.workspace import Workspace

BASE, NEXT = "a0a0a0a0a0a0", "b0b0b0b0b0b0"

TABLES = """
op.create_table('parent', sa.Column('id', sa.Integer, primary_key=True),
                sa.Column('name', sa.String(40)), sa.Column('code', sa.String(40)))
op.create_index('ix_parent_code', 'parent', ['code'])
op.create_table('child', sa.Column('id', sa.Integer, primary_key=True),
                sa.Column('parent_id', sa.Integer, sa.ForeignKey('parent.id')))
op.create_table('grandchild', sa.Column('id', sa.Integer, primary_key=True),
                sa.Column('child_id', sa.Integer, sa.ForeignKey('child.id')))
op.create_table('other', sa.Column('id', sa.Integer, primary_key=True), sa.Column('v', sa.Integer))
op.create_index('ix_other_v', 'other', ['v'])
op.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 400) "
           "INSERT INTO parent (id, name, code) SELECT i, 'p' || i, 'code-' || i FROM n")
op.execute("INSERT INTO child (id, parent_id) SELECT id, id FROM parent")
op.execute("INSERT INTO grandchild (id, child_id) SELECT id, id FROM child")
op.execute("INSERT INTO other (id, v) SELECT id, id FROM parent")
"""

#: Rewrites every parent row (destructive: a snapshot is taken first).
TOUCH_PARENT = "op.execute(\"UPDATE parent SET name = name || '!'\")"

#: ...and then damages a page of parent's index on disk, as a bad disk or a bug would:
#: the run succeeds, only the integrity check can notice.
CORRUPT_PARENT_INDEX = TOUCH_PARENT + """
bind = op.get_bind()
root = bind.exec_driver_sql("SELECT rootpage FROM sqlite_master WHERE name = 'ix_parent_code'").scalar()
size = bind.exec_driver_sql("PRAGMA page_size").scalar()
with open(bind.engine.url.database, "r+b") as f:
    f.seek((root - 1) * size)
    f.write(b"\\xff" * 8)
"""


@pytest.fixture
def tables(stock_project):
    """parent <- child <- grandchild (foreign keys), and an unrelated table, at BASE."""
    stock_project.add_revision(BASE, None, TABLES)
    stock_project.cli("upgrade", BASE, "--create")
    return stock_project


def _checks(result) -> dict[str, dict]:
    report = json.loads(result.stdout)
    health_report = report["health"] if "health" in report else report["result"]["health"]
    return {c["name"]: c for c in health_report["checks"]}


def test_a_revision_touching_one_table_checks_it_and_the_tables_referencing_it(tables):
    tables.add_revision(NEXT, BASE, TOUCH_PARENT)
    checks = _checks(tables.cli("--json", "upgrade", "head"))
    integrity, data_guard = checks["integrity"], checks["data_guard"]
    assert integrity["status"] == "passed" and data_guard["status"] == "passed"
    for detail in (integrity["detail"], data_guard["detail"]):
        assert "touched (alembic_version, parent)" in detail
        assert "referencing them (child, grandchild)" in detail
        assert "other" not in detail and "whole database" not in detail
    assert integrity["detail"].startswith("no problems found (full check of ")


def test_a_rehearsal_checks_what_the_revision_touched_on_its_copy(tables):
    """A rehearsal's checks cost what the rehearsed run changed, as the real run's do."""
    tables.add_revision(NEXT, BASE, TOUCH_PARENT)
    before = table_contents(tables.db)
    integrity = _checks(tables.cli("--json", "rehearse", "head"))["integrity"]
    assert integrity["status"] == "passed"
    assert "touched (alembic_version, parent)" in integrity["detail"]
    assert "referencing them (child, grandchild)" in integrity["detail"]
    assert "other" not in integrity["detail"] and "whole database" not in integrity["detail"]
    assert table_contents(tables.db) == before and version_of(tables.db) == [BASE]


def test_a_corrupted_page_in_a_touched_table_is_still_caught_and_restored(tables):
    before = table_contents(tables.db)
    tables.add_revision(NEXT, BASE, CORRUPT_PARENT_INDEX)
    result = tables.cli("--json", "upgrade", "head", expect=7)
    integrity = _checks(result)["integrity"]
    assert integrity["status"] == "failed", integrity
    assert "parent" in integrity["detail"]
    assert json.loads(result.stdout)["result"]["restored"] is True
    assert table_contents(tables.db) == before and version_of(tables.db) == [BASE]
    with sqlite3.connect(tables.db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_when_what_a_run_touched_is_unknown_the_whole_database_is_checked_and_why(tables):
    tables.add_revision(NEXT, BASE, """
op.execute("CREATE TRIGGER parent_to_other AFTER UPDATE ON parent BEGIN UPDATE other SET v = v + 1; END")
op.execute("UPDATE parent SET name = 'x' WHERE id = 1")
""")
    checks = _checks(tables.cli("--json", "upgrade", "head", "--policy", "always"))
    for name in ("integrity", "data_guard"):
        assert checks[name]["status"] == "passed"
        assert ("the whole database: table parent has a trigger, which may write tables no "
                "statement names") in checks[name]["detail"]


def test_integrity_full_checks_the_whole_database_after_every_run(tables):
    tables.configure(integrity="full")
    tables.add_revision(NEXT, BASE, TOUCH_PARENT)
    detail = _checks(tables.cli("--json", "upgrade", "head"))["integrity"]["detail"]
    assert detail == "no problems found (full check of the whole database (--full or integrity = full))"


def test_check_is_quick_on_the_whole_database_and_full_with_the_flag(tables):
    quick = json.loads(tables.cli("--json", "check").stdout)["checks"][0]
    full = json.loads(tables.cli("--json", "check", "--full").stdout)["checks"][0]
    assert quick["detail"] == "no problems found (quick check of the whole database)"
    assert full["detail"].startswith("no problems found (full check of the whole database")


def test_a_builtin_check_may_take_longer_on_a_larger_database_a_team_check_may_not(tables):
    ctx = _context(tables, check_timeout=2)
    size = tables.db.stat().st_size
    limit, why = health.time_limit("integrity", ctx)
    assert limit == pytest.approx(2 + size / health.SLOWEST_BYTES_PER_S)
    assert why.startswith("check_timeout 2s + ")
    assert health.time_limit("sql:team", ctx) == (2, "check_timeout 2s")
    assert health.time_limit("smoke", ctx) == (2, "check_timeout 2s")


def _context(project, **settings):
    loaded = load_settings(str(project.ini), url=project.url, **settings)
    ws = Workspace(loaded)
    state = ws.database()
    return health.CheckContext(backend=ws.backend(state), project=ws.project, settings=loaded,
                               database=state)


def test_a_builtin_check_that_runs_out_of_time_says_how_far_it_got(tables):
    def one_table_then_stuck(ctx):
        ctx.progress(1, 4)
        time.sleep(3)

    def stuck_in_the_first(ctx):
        time.sleep(3)

    report = health.run_checks(_context(tables, check_timeout=0.2),
                               [("integrity", one_table_then_stuck), ("data_guard", stuck_in_the_first)])
    first, second = report.results
    assert first.status == second.status == "error"
    assert first.detail.startswith("did not finish within 0.2")
    size = size_words(_context(tables, check_timeout=0.2).size())
    assert f"(check_timeout 0.2s + {size} at 1.0 MiB/s): it had checked 1 of 4 tables; all of " \
           "them would have taken about 1s" in first.detail
    assert f"it had not finished its first table; a full check of the whole database ({size}) " \
           "is expected to take about 0s" in second.detail


def test_a_run_in_a_child_process_hands_its_statements_back(tables):
    """With --timeout the revisions run in a forked child: what it executed still
    scopes the checks."""
    tables.add_revision(NEXT, BASE, TOUCH_PARENT)
    checks = _checks(tables.cli("--json", "upgrade", "head", "--timeout", "120"))
    assert "touched (alembic_version, parent)" in checks["integrity"]["detail"]


@pytest.mark.postgres
def test_on_postgresql_a_destructive_revision_checks_the_tables_it_touched(pg_at_head, pg_server):
    """The snapshot path on PostgreSQL: the footprint is read from the statements the
    run executed (Alembic's own catalog reads included) and the schema after it."""
    from conftest import HEAD
    from postgres_support import version_of as pg_version_of

    pg_at_head.add_revision(NEXT, HEAD, "op.execute(\"DELETE FROM audit_log WHERE false\")")
    report = json.loads(pg_at_head.cli("--json", "upgrade", "head").stdout)
    assert report["outcome"] == "migrated" and report["snapshot"], report
    integrity = {c["name"]: c for c in report["health"]["checks"]}["integrity"]
    assert integrity["status"] == "passed", integrity
    assert "touched (alembic_version, audit_log)" in integrity["detail"], integrity["detail"]
    assert "whole database" not in integrity["detail"], integrity["detail"]
    assert pg_version_of(pg_server, pg_at_head.database) == [NEXT]
