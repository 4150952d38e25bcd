"""Every refusal is one clear line, a non-zero exit, and an unchanged database."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import SEED_AT, version_of


def _snapshots(project):
    directory = project.store / "snapshots"
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def _refused(project, *args, code=3):
    """Run a command that must be refused; return its one error line."""
    before = project.db.read_bytes() if project.db.exists() else None
    snapshots = _snapshots(project)
    result = project.cli(*args, expect=code)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("safeguard: error: "), result.stderr
    assert len(lines) == 1 or not lines[-2].startswith("safeguard"), result.stderr
    if before is not None:
        assert project.db.read_bytes() == before
    assert _snapshots(project) == snapshots
    return lines[-1]


def test_unknown_target_revision(seeded):
    line = _refused(seeded, "upgrade", "deadbeef0000")
    assert "deadbeef0000" in line
    assert version_of(seeded.db) == [SEED_AT]


def test_multiple_heads_without_an_explicit_target(seeded):
    seeded.add_revision("c0ffee000001", SEED_AT, "pass", doc="a branch")
    line = _refused(seeded, "upgrade")
    assert "heads" in line
    assert version_of(seeded.db) == [SEED_AT]


def test_database_revision_the_scripts_do_not_know(seeded):
    conn = sqlite3.connect(seeded.db)
    conn.execute("UPDATE alembic_version SET version_num = 'abcdef123456'")
    conn.commit()
    conn.close()
    line = _refused(seeded, "upgrade", "head")
    assert "abcdef123456" in line and "do not know" in line
    assert version_of(seeded.db) == ["abcdef123456"]


def test_missing_database_file_is_not_created(project):
    line = _refused(project, "upgrade", "head")
    assert "database file not found" in line and str(project.db) in line
    assert not project.db.exists()


def test_a_file_that_is_not_a_database(project):
    project.db.write_bytes(b"this is not a SQLite database, it is a text file\n" * 100)
    line = _refused(project, "upgrade", "head")
    assert "not a database" in line
    assert project.db.read_bytes().startswith(b"this is not a SQLite database")


def test_store_that_cannot_be_written(seeded, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    seeded.configure(store=str(blocker / "store"))
    line = _refused(seeded, "upgrade", "head")
    assert "not writable" in line and "store" in line
    assert version_of(seeded.db) == [SEED_AT]


@pytest.mark.parametrize("url", ["oracle://user@localhost/poolula", "mssql+pyodbc://dsn"])
def test_unsupported_database_url(project, url):
    result = project.cli("--url", url, "upgrade", "head", expect=3)
    assert "no backend" in result.stderr.strip().splitlines()[-1]


def test_invalid_url_does_not_echo_a_password(project):
    result = project.cli("--url", "::not a url:secret-pw@", "upgrade", "head", expect=2)
    assert "secret-pw" not in result.stderr + result.stdout


def test_unknown_config_key_is_named(seeded):
    seeded.configure(polcy="always")
    line = _refused(seeded, "upgrade", "head", code=2)
    assert "'polcy'" in line


def test_unfinished_operation_blocks_changes(seeded):
    from safeguard.journal import Journal

    Journal(seeded.store).begin("upgrade", database=str(seeded.db.resolve()))
    line = _refused(seeded, "upgrade", "head", code=9)
    assert "safeguard recover" in line
    assert version_of(seeded.db) == [SEED_AT]
