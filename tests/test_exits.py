"""Exits that are not failures, output that is not JSON (issue 22, section 3).

A revision (or env.py) that exits is a failed revision: undone, reported, exit 6, and
the operation closed. Under --json, stdout carries the one JSON object whatever env.py
prints. A revision file that does not parse is one line naming it (exit 2), and a
backup does not need the revision files at all.
"""

from __future__ import annotations

import json

import pytest
from conftest import HEAD, SEED_AT, table_contents, version_of
from reliability.ledger import Tally

EXITS = {
    "sys.exit(0)": "import sys\nsys.exit(0)",
    "SystemExit(1)": "raise SystemExit(1)",
    "os._exit(0)": "import os\nos._exit(0)",
}


@pytest.mark.parametrize("how", list(EXITS))
def test_a_revision_that_exits_is_a_failed_revision_and_undone(seeded, how, ledger):
    seeded.configure(keep_last="10")
    seeded.add_revision("e1e1e1e1e1e1", HEAD, f'op.drop_table("tenants")\n{EXITS[how]}')
    before = table_contents(seeded.db)

    run = seeded.run("--json", "upgrade", "head")
    ledger(Tally(tests=1, faults=1, restores=1,
                 data_lost=int(table_contents(seeded.db) != before)), exit=how)

    assert run.returncode == 6, (run.returncode, run.stdout, run.stderr)
    report = json.loads(run.stdout)
    assert report["kind"] == "MigrationFailedError" and report["result"]["restored"] is True
    assert "e1e1e1e1e1e1" in report["error"]
    assert table_contents(seeded.db) == before
    assert version_of(seeded.db) == [SEED_AT]
    last = json.loads(seeded.cli("--json", "log").stdout)["operations"][-1]
    assert last["end"]["outcome"] == "restored", last


def test_env_py_that_exits_after_catching_the_error_is_undone(seeded, ledger):
    """env.py catches the migration's exception and calls sys.exit(1)."""
    env = seeded.root / "alembic" / "env.py"
    text = env.read_text()
    env.write_text(text.replace("        with context.begin_transaction():\n"
                                "            context.run_migrations()",
                                "        try:\n"
                                "            with context.begin_transaction():\n"
                                "                context.run_migrations()\n"
                                "        except Exception as exc:\n"
                                "            print('migration failed:', exc)\n"
                                "            raise SystemExit(1)"))
    assert env.read_text() != text
    seeded.add_revision("e2e2e2e2e2e2", HEAD, 'op.drop_table("tenants")\nraise RuntimeError("boom")')
    before = table_contents(seeded.db)

    run = seeded.run("upgrade", "head")
    ledger(Tally(tests=1, faults=1, restores=1,
                 data_lost=int(table_contents(seeded.db) != before)), exit="env.py SystemExit(1)")

    assert run.returncode == 6, (run.returncode, run.stderr)
    assert table_contents(seeded.db) == before and version_of(seeded.db) == [SEED_AT]
    seeded.cli("upgrade", SEED_AT)  # not refused: nothing left unfinished


def _chatty_env(project) -> None:
    env = project.root / "alembic" / "env.py"
    env.write_text("print('hello from env.py')\n" + env.read_text())


def test_under_json_stdout_holds_only_the_json_whatever_env_py_prints(seeded):
    _chatty_env(seeded)
    seeded.add_revision("e3e3e3e3e3e3", HEAD, 'print("hello from a revision")\n'
                                              'op.add_column("properties", sa.Column("x", sa.Text()))')
    snapshot = None
    for args in (("current",), ("plan",), ("config",), ("snapshot", "create"), ("check",),
                 ("upgrade", HEAD), ("restore", "latest", "--yes")):
        result = seeded.cli("--json", *args, expect=None)
        assert result.exit_code in (0, 7), (args, result.exit_code, result.stderr)
        try:
            data = json.loads(result.stdout)
        except ValueError as exc:
            raise AssertionError(f"{args}: stdout is not one JSON object:\n{result.stdout}") from exc
        assert "hello from" not in result.stdout
        if args[0] == "snapshot":
            snapshot = data["id"]
    assert snapshot


def _break_a_revision(project) -> str:
    path = project.add_revision("e4e4e4e4e4e4", HEAD, "op.execute('SELECT 1')")
    path.write_text(path.read_text() + "\ndef oops(:\n    pass\n")
    return str(path)


def test_a_revision_file_that_does_not_parse_is_one_line_naming_it(seeded):
    broken = _break_a_revision(seeded)
    for args in (("plan",), ("upgrade", "head"), ("current",)):
        result = seeded.cli(*args, expect=2)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and broken in lines[0] and "line " in lines[0], (args, result.stderr)
        as_json = seeded.cli("--json", *args, expect=2)
        assert json.loads(as_json.stdout)["exit_code"] == 2
    assert version_of(seeded.db) == [SEED_AT]


def test_a_backup_does_not_need_the_revision_files(seeded):
    _break_a_revision(seeded)
    created = json.loads(seeded.cli("--json", "snapshot", "create").stdout)
    assert created["revision"] == SEED_AT
