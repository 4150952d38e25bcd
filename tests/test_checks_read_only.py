"""The team's own checks run read-only (issue 33, item 14): a check decides whether a
migrated database is kept, and must not change it. A `sql_check` that ran `PRAGMA
journal_mode=wal` switched the database to WAL (and left -wal and -shm files beside it),
one that ran `ATTACH` created a file, and a Python check could create a table and
commit it. SQLite checks run with `PRAGMA query_only` and an authorizer that refuses
ATTACH and the pragmas that change something; PostgreSQL and MariaDB checks in a
read-only transaction. A check that tries is an error, which fails the checks.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest

WRITES = "tests.support.team_checks:writes_and_commits"


def _statuses(project, *args: str) -> dict[str, dict]:
    result = project.cli("--json", "check", *args, expect=None)
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}


def _sqlite_tables(db) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_sql_check_cannot_switch_a_sqlite_database_to_wal(seeded):
    seeded.configure(sql_check__wal="PRAGMA journal_mode=wal")
    checks = _statuses(seeded)
    with closing(sqlite3.connect(seeded.db)) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "delete"
    assert not seeded.db.with_name(seeded.db.name + "-wal").exists()
    assert checks["sql:wal"]["status"] == "error", checks["sql:wal"]
    assert "not authorized" in checks["sql:wal"]["detail"]


def test_a_sql_check_cannot_attach_a_file(seeded, tmp_path):
    side = tmp_path / "side.db"
    seeded.configure(sql_check__attach=f"ATTACH '{side}' AS side")
    checks = _statuses(seeded)
    assert not side.exists()
    assert checks["sql:attach"]["status"] == "error", checks["sql:attach"]


def test_a_python_check_cannot_commit_a_change_to_sqlite(seeded):
    seeded.configure(checks=WRITES)
    checks = _statuses(seeded)
    assert "check_side_effect" not in _sqlite_tables(seeded.db)
    assert checks[f"python:{WRITES}"]["status"] == "error"


def test_reading_checks_still_pass_and_a_run_is_unaffected(seeded):
    seeded.configure(sql_check__columns="SELECT count(*) > 3 FROM pragma_table_info('properties')",
                     sql_check__integrity="SELECT quick_check = 'ok' FROM pragma_quick_check",
                     sql_check__mode="SELECT 1 FROM pragma_journal_mode WHERE journal_mode = 'delete'")
    seeded.cli("-q", "upgrade", "head")
    checks = _statuses(seeded)
    for name in ("sql:columns", "sql:integrity", "sql:mode"):
        assert checks[name]["status"] == "passed", checks[name]
    with closing(sqlite3.connect(seeded.db)) as conn:
        assert conn.execute("PRAGMA query_only").fetchone()[0] == 0


@pytest.mark.postgres
def test_postgresql_checks_run_in_a_read_only_transaction(pg_seeded, pg_server):
    with pg_server.connect(pg_seeded.database) as conn:
        conn.execute("CREATE SEQUENCE sg_check_seq")
    pg_seeded.configure(checks=WRITES, sql_check__sequence="SELECT nextval('sg_check_seq') > 0")
    checks = _statuses(pg_seeded)
    with pg_server.connect(pg_seeded.database) as conn:
        advanced = conn.execute("SELECT last_value, is_called FROM sg_check_seq").fetchone()
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables")}
    assert advanced == (1, False), "a check advanced a sequence (nextval is not undone by a rollback)"
    assert "check_side_effect" not in tables
    assert checks["sql:sequence"]["status"] == "error"
    assert checks[f"python:{WRITES}"]["status"] == "error"


@pytest.mark.mysql
def test_mariadb_checks_run_in_a_read_only_transaction(mysql_seeded, mysql_server):
    mysql_seeded.configure(checks=WRITES, sql_check__ddl="CREATE TABLE check_ddl (x INT)")
    checks = _statuses(mysql_seeded)
    with mysql_server.connect(mysql_seeded.database) as conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        tables = {r[0] for r in cur.fetchall()}
    assert "check_side_effect" not in tables and "check_ddl" not in tables
    assert checks[f"python:{WRITES}"]["status"] == "error"
    assert checks["sql:ddl"]["status"] == "error"
