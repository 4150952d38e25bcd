"""safeguard never snapshots one database and migrates another.

Before anything: a URL given with --url or DATABASE_URL must be the database env.py
really connects to. During the run: every connection env.py (or a revision) opens must
go to the database safeguard read and snapshotted, or it is refused before the driver
connects. Databases are compared by identity (resolved SQLite path), not by spelling.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import table_contents

from safeguard.cli import main
from test_env_styles import CHAIN, FAILING, STYLES_DIR, make_project, style_named


def error_line(stderr: str) -> str:
    """The one line safeguard prints for an error."""
    lines = [line for line in stderr.splitlines() if line.startswith("safeguard: error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("given_as", ["--url", "DATABASE_URL"])
def test_a_url_env_py_ignores_is_refused_before_anything_is_written(tmp_path, given_as):
    sp = make_project(tmp_path, style_named("envvar"))  # env.py reads APP_DB_URL only
    other = sp.root / "other.db"
    before = table_contents(sp.db)
    url = f"sqlite:///{other}"

    if given_as == "--url":
        result = sp.safeguard("--url", url, "upgrade", "head")
    else:
        result = sp.safeguard("upgrade", "head", extra_env={"DATABASE_URL": url})

    assert result.returncode == 3, result.stderr
    line = error_line(result.stderr)
    assert f"env.py connected to {sp.db}" in line
    assert f"--url/DATABASE_URL names {other}" in line
    assert not other.exists()
    assert not (sp.root / ".safeguard").exists()  # no journal, no snapshot, no lock file
    assert table_contents(sp.db) == before


def test_the_same_database_spelled_another_way_is_accepted(tmp_path):
    sp = make_project(tmp_path, style_named("envvar"))  # APP_DB_URL is an absolute path

    result = sp.safeguard("--url", "sqlite:///./app.db", "current")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == CHAIN[0]


def test_a_revision_connecting_elsewhere_is_refused_and_rolled_back(tmp_path):
    sp = make_project(tmp_path, style_named("stock"))
    elsewhere = sp.root / "elsewhere.db"
    (sp.root / sp.style.versions / f"{FAILING}_elsewhere.py").write_text(
        f'"""copy items elsewhere"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f"revision = {FAILING!r}\ndown_revision = {CHAIN[-1]!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        '    op.execute("DELETE FROM items WHERE id = 1")\n'
        f'    sa.create_engine("sqlite:///{elsewhere}").connect()\n\n\n'
        "def downgrade() -> None:\n    pass\n"
    )
    before = table_contents(sp.db)

    result = sp.safeguard("upgrade", "head")

    assert result.returncode == 6, result.stderr
    line = error_line(result.stderr)
    assert f"revision {FAILING} failed: DatabaseMismatchError: env.py connected to {elsewhere}" in line
    assert "restored snapshot" in line
    assert not elsewhere.exists()
    assert table_contents(sp.db) == before


def run_in_process(root: Path, *args: str):
    """The real CLI in this process, from the project's directory."""
    cwd = os.getcwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(main, ["-c", str(root / "alembic.ini"), *args],
                                  catch_exceptions=False)
    finally:
        os.chdir(cwd)


@pytest.fixture
def switching(tmp_path, monkeypatch) -> Path:
    """The `switching` fixture project, app.db at the first revision with one row."""
    monkeypatch.delenv("DATABASE_URL")
    root = tmp_path / "switching"
    shutil.copytree(STYLES_DIR / "switching", root)
    shutil.copytree(STYLES_DIR / "_chain", root / "alembic" / "versions")
    result = run_in_process(root, "upgrade", CHAIN[0], "--create", "--policy", "never")
    assert result.exit_code == 0, result.stderr
    with sqlite3.connect(root / "app.db") as conn:
        conn.execute("INSERT INTO items (id, name, note) VALUES (1, 'kept', 'kept too')")
    conn.close()
    return root


def test_env_py_that_changes_database_mid_run_never_touches_either(switching, monkeypatch):
    """Whichever run of env.py turns to other.db (reading the revision under the lock,
    applying the first or the second revision, the health check's read), app.db ends
    as it was, other.db is never created, and the error names both."""
    app, other, runs = switching / "app.db", switching / "other.db", switching / "runs.txt"
    start, before = app.read_bytes(), table_contents(app)

    def fresh() -> None:
        app.write_bytes(start)
        runs.unlink(missing_ok=True)
        shutil.rmtree(switching / ".safeguard", ignore_errors=True)

    fresh()
    clean = run_in_process(switching, "upgrade", "head")
    assert clean.exit_code == 0, clean.stderr
    total = int(runs.read_text())  # how often one guarded upgrade runs env.py

    lines = {}
    for switch_after in range(1, total):
        fresh()
        monkeypatch.setenv("SWITCH_AFTER", str(switch_after))
        result = run_in_process(switching, "upgrade", "head")
        line = lines[switch_after] = error_line(result.stderr)
        assert not other.exists(), line
        assert table_contents(app) == before, line
        assert f"env.py connected to {other}" in line and str(app) in line
        if result.exit_code == 3:  # nothing had been applied: nothing to restore
            assert "refused before any statement ran" in line
        else:  # a revision had been applied: restored, though env.py cannot confirm it
            assert result.exit_code == 8, line
            assert f"was written back to {app}" in line
    # Under the lock, before any journal entry; then at the first revision, after the
    # snapshot, which is kept.
    assert "reading the database's revision" in lines[1]
    assert "while upgrading to head" in lines[2] and "nothing was applied" in lines[2]
