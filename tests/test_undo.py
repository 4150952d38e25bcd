"""Issue 13: every failed run ends where it began (SQLite: always by a snapshot).

Each story is what a new user tried on the example app: a revision that is safe for the
data (it creates a table, or adds a nullable column) and still fails, by raising or by
failing a health check. SQLite commits each DDL statement, so without an undo the
table (and its row) or the column stayed while alembic_version did not move. Every
failed run below must leave every table's rows and schema and alembic_version as they
were, no `_alembic_tmp_*` table, and the fixed revision must then apply cleanly.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from conftest import HEAD, schema_of, table_contents, version_of

from safeguard.classify import classify_source
from safeguard.undo import EnvTransaction, decide

NEW = "a13a13a13a01"

CREATE_INSERT_RAISE = '''
op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.String(200)))
op.execute("INSERT INTO notes (id, body) VALUES (1, 'first note')")
raise RuntimeError("the author's bug")
'''
CREATE_INSERT = '''
op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.String(200)))
op.execute("INSERT INTO notes (id, body) VALUES (1, 'first note')")
'''
ADD_NULLABLE = 'op.add_column("properties", sa.Column("nickname", sa.String(80), nullable=True))'
CREATE_TABLE = 'op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))'

#: The application's models once its author added the column (the fix for drift).
MODELS_WITH_NICKNAME = '''
import sqlalchemy as sa
from sqlmodel import SQLModel

import core.database.models  # noqa: F401

metadata = sa.MetaData()
for table in SQLModel.metadata.tables.values():
    table.to_metadata(metadata)
metadata.tables["properties"].append_column(sa.Column("nickname", sa.String(80), nullable=True))
'''


@pytest.fixture
def at_head(seeded):
    """The example app with demo rows, at head; the checks that need no app code of
    their own stay on (integrity, revision, drift, data guard, the sql_check)."""
    seeded.cli("upgrade", "head")
    return seeded


def _state(project):
    return {"rows": table_contents(project.db), "schema": schema_of(project.db),
            "version": version_of(project.db)}


def _assert_undone(project, before, result, exit_codes=(6, 7)):
    assert result.returncode in exit_codes, result.stderr
    assert _state(project) == before
    assert not [name for (_, name, _) in schema_of(project.db) if name.startswith("_alembic_tmp")]
    report = json.loads(result.stdout)
    assert report["result"]["restored"] is True
    assert report["result"]["plan"]["undo"]["by"] == "snapshot"
    return report


def test_a_revision_that_creates_a_table_inserts_and_raises_is_undone(at_head):
    at_head.configure(metadata="")  # the models do not know the new table
    before = _state(at_head)
    at_head.add_revision(NEW, HEAD, CREATE_INSERT_RAISE)
    plan = json.loads(at_head.cli("--json", "plan").stdout)
    assert plan["steps"][0]["verdict"] == "safe" and plan["undo"]["by"] == "snapshot"

    report = _assert_undone(at_head, before, at_head.run("--json", "upgrade", "head"), (6,))
    assert report["result"]["failed_revision"] == NEW and "the author's bug" in report["error"]

    at_head.add_revision(NEW, HEAD, CREATE_INSERT)  # fixed: no more "table notes already exists"
    at_head.cli("upgrade", "head")
    assert version_of(at_head.db) == [NEW] and table_contents(at_head.db)["notes"] == [(1, "first note")]


def test_a_nullable_column_that_fails_the_drift_check_is_undone(at_head):
    before = _state(at_head)
    at_head.add_revision(NEW, HEAD, ADD_NULLABLE)
    report = _assert_undone(at_head, before, at_head.run("--json", "upgrade", "head"), (7,))
    assert "properties.nickname" in report["error"]

    # The fix is in the models: the same revision now passes the drift check.
    (at_head.root / "models_v2.py").write_text(MODELS_WITH_NICKNAME)
    at_head.configure(metadata="models_v2:metadata")
    done = at_head.run("upgrade", "head")
    assert done.returncode == 0, done.stderr
    assert version_of(at_head.db) == [NEW]


def test_a_new_table_that_fails_a_sql_check_is_undone(at_head):
    at_head.configure(metadata="", sql_check__notes_are_empty="SELECT count(*) = 0 FROM notes")
    before = _state(at_head)
    at_head.add_revision(NEW, HEAD, CREATE_INSERT)
    report = _assert_undone(at_head, before, at_head.run("--json", "upgrade", "head"), (7,))
    assert "sql:notes_are_empty" in report["error"]

    at_head.add_revision(NEW, HEAD, CREATE_TABLE)  # fixed: the table starts empty
    at_head.cli("upgrade", "head")
    assert version_of(at_head.db) == [NEW] and table_contents(at_head.db)["notes"] == []


def test_a_failed_downgrade_is_undone_too(at_head):
    """Downgrades follow the same invariant; on SQLite their undo is a snapshot."""
    at_head.configure(metadata="")
    at_head.add_revision(NEW, HEAD, CREATE_TABLE)
    at_head.cli("upgrade", "head")
    path = at_head.versions / f"{NEW}_test.py"
    path.write_text(path.read_text().replace(
        "def downgrade():\n    pass",
        'def downgrade():\n    op.drop_table("notes")\n    raise RuntimeError("half-way down")'))
    before = _state(at_head)
    plan = json.loads(at_head.cli("--json", "plan", "--downgrade", HEAD).stdout)
    assert plan["undo"]["by"] == "snapshot"
    _assert_undone(at_head, before, at_head.run("--json", "downgrade", HEAD), (6,))


def test_policy_never_gives_the_undo_up_and_says_where_the_run_was_left(at_head):
    at_head.configure(metadata="")
    at_head.add_revision(NEW, HEAD, CREATE_INSERT_RAISE)
    plan = json.loads(at_head.cli("--json", "upgrade", "--dry-run", "--policy", "never").stdout)["plan"]
    assert plan["undo"]["by"] == "none" and "never" in plan["undo"]["reason"]
    failed = at_head.run("--json", "upgrade", "head", "--policy", "never")
    assert failed.returncode == 6
    assert f"the database is at {HEAD}" in json.loads(failed.stdout)["error"]


# -- the decision itself: a pure function of the plan's facts ---------------------------


def _steps(*bodies: str):
    return [SimpleNamespace(step=SimpleNamespace(revision=f"r{i}"), classification=classify_source(
        f'revision = "r{i}"\ndown_revision = None\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f'def upgrade():\n    {body}\n')) for i, body in enumerate(bodies)]


WHOLE_RUN = EnvTransaction(True)
SAFE = 'op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))'


@pytest.mark.parametrize("steps, kwargs, by, says", [
    (_steps(SAFE), {}, "transaction", "one transaction"),
    (_steps('op.alter_column("t", "c", nullable=False)'), {}, "transaction", "one transaction"),
    (_steps(SAFE, 'op.drop_column("t", "c")'), {}, "snapshot", "r1 is destructive (DS103)"),
    (_steps(SAFE), {"dialect": "sqlite"}, "snapshot", "SQLite commits DDL"),
    (_steps('op.drop_table("t")'), {"dialect": "sqlite"}, "snapshot", "r0 is destructive"),
    (_steps('op.execute("VACUUM")'), {}, "snapshot", "r0 runs outside the run's transaction (line 7"),
    (_steps(SAFE), {"env": EnvTransaction(False, "env.py sets transaction_per_migration=True")},
     "snapshot", "transaction_per_migration"),
    (_steps(SAFE), {"stoppable": True}, "snapshot", "--timeout"),
    (_steps(SAFE), {"own_connection_checks": ["smoke"]}, "snapshot", "smoke check opens its own"),
    (_steps(SAFE), {"policy": "always"}, "snapshot", "always"),
    (_steps('op.drop_table("t")'), {"policy": "never"}, "none", "never"),
    ([], {}, "none", "nothing to do"),
])
def test_the_undo_of_a_run(steps, kwargs, by, says):
    facts = {"policy": "destructive", "dialect": "postgresql", "env": WHOLE_RUN, "stoppable": False,
             "own_connection_checks": [], **kwargs}
    undo = decide(steps, **facts)
    assert undo.by == by and says in undo.reason, undo
