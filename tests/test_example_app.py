"""Tests of the example application: its Alembic chain, models and demo seeder.

Everything runs against real SQLite files in ``tmp_path``; Alembic is driven
through ``alembic.command`` with the repository's own alembic.ini and env.py.
"""

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import load_module
from sqlalchemy import create_engine

from core.database.connection import check_connection, get_database_url, get_engine
from core.database.models import SQLModel

REPO_ROOT = Path(__file__).resolve().parent.parent

# The chain, oldest first (revision id, what it does).
CHAIN = [
    ("63f5e369059c", "initial schema"),
    ("b60d3cbe6a3c", "add zoning"),
    ("487abfc8c902", "add property_manager"),
    ("1580131d7fd2", "add tenants"),
    ("7fcb413ce398", "rename property_type -> usage_type"),
    ("de2d457f8ad0", "year_built text -> integer"),
    ("e718c4af176b", "index on status"),
    ("7ff34d85758f", "add + backfill full_address"),
    ("869693962fcc", "drop legacy_owner_notes"),
]
REV_INITIAL, REV_TENANTS, HEAD = CHAIN[0][0], CHAIN[3][0], CHAIN[-1][0]
TABLES = ("properties", "transactions", "documents", "obligations", "audit_log", "tenants")


seeder = load_module("seed_database", REPO_ROOT / "scripts" / "seed_database.py")


@pytest.fixture
def db_path(tmp_path, monkeypatch) -> Path:
    """A fresh SQLite file path, exported as DATABASE_URL."""
    path = tmp_path / "poolula.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.chdir(REPO_ROOT)  # prepend_sys_path = . is relative to the cwd
    return path


@pytest.fixture
def alembic_cfg(db_path) -> Config:
    # configure_logger=False: leave pytest's log capture alone.
    return Config("alembic.ini", attributes={"configure_logger": False})


def _current(db_path: Path) -> str | None:
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    return revision


def _query(db_path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql).fetchall()


def _columns(db_path: Path, table: str) -> set[str]:
    return {row[1] for row in _query(db_path, f"PRAGMA table_info({table})")}


def _tables(db_path: Path) -> set[str]:
    return {row[0] for row in _query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def _counts(db_path: Path) -> dict[str, int]:
    present = _tables(db_path)
    return {t: _query(db_path, f"SELECT COUNT(*) FROM {t}")[0][0] for t in TABLES if t in present}


def _schema_diff(db_path: Path) -> list:
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    engine.dispose()
    return diff


def _seed(db_path: Path, rows: int, seed: int = seeder.DEFAULT_SEED) -> dict[str, int]:
    engine = get_engine(f"sqlite:///{db_path}")
    try:
        return seeder.seed_database(engine, rows=rows, seed=seed)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the chain

def test_chain_is_linear_with_nine_revisions(alembic_cfg):
    script = ScriptDirectory.from_config(alembic_cfg)
    walked = [rev.revision for rev in script.walk_revisions("base", "heads")]
    assert list(reversed(walked)) == [rev for rev, _ in CHAIN]
    assert script.get_heads() == [HEAD]


def test_upgrade_downgrade_upgrade(alembic_cfg, db_path):
    command.upgrade(alembic_cfg, "head")
    assert _current(db_path) == HEAD
    assert set(TABLES) <= _tables(db_path)

    command.downgrade(alembic_cfg, "base")
    assert _current(db_path) is None
    assert _tables(db_path) == {"alembic_version"}

    command.upgrade(alembic_cfg, "head")
    assert _current(db_path) == HEAD
    assert _schema_diff(db_path) == []


def test_head_schema_matches_models(alembic_cfg, db_path):
    command.upgrade(alembic_cfg, "head")
    assert _schema_diff(db_path) == []
    # And the comparison is not vacuous: one revision down, it sees differences.
    command.downgrade(alembic_cfg, "-1")
    assert _schema_diff(db_path) != []


def test_each_revision_downgrades_with_data(alembic_cfg, db_path):
    """Step down one revision at a time from a seeded head; rows stay put."""
    command.upgrade(alembic_cfg, "head")
    seeded = _seed(db_path, rows=30)

    for index in range(len(CHAIN) - 1, 0, -1):
        command.downgrade(alembic_cfg, "-1")
        assert _current(db_path) == CHAIN[index - 1][0]
        counts = _counts(db_path)
        # tenants exist from CHAIN[3] on; we now stand at CHAIN[index - 1].
        expected = {t: n for t, n in seeded.items() if t != "tenants" or index - 1 >= 3}
        assert counts == expected, f"rows lost below {CHAIN[index][1]}"
        assert _query(db_path, "PRAGMA foreign_key_check") == []

    # At revision 1 again: the original column names and the text year are back.
    assert {"property_type", "year_built", "legacy_owner_notes"} <= _columns(db_path, "properties")
    assert not {"usage_type", "zoning", "property_manager", "full_address"} & _columns(db_path, "properties")
    years = [y for (y,) in _query(db_path, "SELECT year_built FROM properties WHERE year_built IS NOT NULL")]
    assert years and all(isinstance(y, str) and y.isdigit() for y in years)

    command.downgrade(alembic_cfg, "-1")
    assert _current(db_path) is None


def test_seeded_data_survives_every_data_migration(alembic_cfg, db_path):
    command.upgrade(alembic_cfg, REV_TENANTS)
    seeded = _seed(db_path, rows=80)
    before_counts = _counts(db_path)
    assert before_counts == seeded and before_counts["tenants"] > 0
    before = {
        row[0]: row[1:]
        for row in _query(db_path, "SELECT id, property_type, year_built, address, city, state FROM properties")
    }
    old_years = [row[1] for row in before.values()]
    # The seed must exercise both branches of revision 6's WHERE clause.
    assert "" in old_years and None in old_years and any(y and y.isdigit() for y in old_years)

    command.upgrade(alembic_cfg, "head")

    assert _counts(db_path) == before_counts
    columns = _columns(db_path, "properties")
    assert "legacy_owner_notes" not in columns and "property_type" not in columns
    after = {
        row[0]: row[1:]
        for row in _query(db_path, "SELECT id, usage_type, year_built, full_address FROM properties")
    }
    assert after.keys() == before.keys()
    for prop_id, (property_type, old_year, address, city, state) in before.items():
        usage_type, year_built, full_address = after[prop_id]
        assert usage_type == property_type
        assert year_built == (int(old_year) if old_year else None)
        assert full_address == f"{address}, {city}, {state}"
    assert _query(db_path, "PRAGMA foreign_key_check") == []


def test_year_built_downgrade_restores_text(alembic_cfg, db_path):
    command.upgrade(alembic_cfg, "de2d457f8ad0")
    _seed(db_path, rows=40)
    years = dict(_query(db_path, "SELECT id, year_built FROM properties"))
    command.downgrade(alembic_cfg, "-1")
    restored = dict(_query(db_path, "SELECT id, year_built FROM properties"))
    assert restored == {pid: (str(y) if y is not None else None) for pid, y in years.items()}


# ---------------------------------------------------------------- the seeder

def test_seed_at_head(alembic_cfg, db_path, capsys):
    command.upgrade(alembic_cfg, "head")
    assert seeder.main(["--rows", "20"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == list(TABLES)
    assert _counts(db_path) == {
        "properties": 20, "transactions": 200, "documents": 40,
        "obligations": 60, "audit_log": 40, "tenants": 30,
    }
    rows = _query(db_path, "SELECT year_built, full_address, address, city, state FROM properties")
    assert all(year is None or isinstance(year, int) for year, *_ in rows)
    assert all(full == f"{a}, {c}, {s}" for _, full, a, c, s in rows)
    assert _query(db_path, "PRAGMA foreign_key_check") == []
    assert check_connection() is True


def test_seed_at_initial_revision_skips_tenants(alembic_cfg, db_path, capsys):
    command.upgrade(alembic_cfg, REV_INITIAL)
    assert seeder.main(["--rows", "10"]) == 0
    assert "tenants" in capsys.readouterr().out
    assert "tenants" not in _counts(db_path)
    notes = _query(db_path, "SELECT COUNT(legacy_owner_notes), COUNT(property_type) FROM properties")[0]
    assert notes[0] > 0 and notes[1] == 10


def test_seed_is_reproducible_across_revisions(alembic_cfg, db_path, tmp_path, monkeypatch):
    """The same seed gives the same rows whether seeded at revision 4 or at head."""
    command.upgrade(alembic_cfg, REV_TENANTS)
    _seed(db_path, rows=15, seed=7)
    early = _query(db_path, "SELECT id, property_type, address FROM properties ORDER BY id")

    other = tmp_path / "other.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{other}")
    command.upgrade(alembic_cfg, "head")
    _seed(other, rows=15, seed=7)
    assert _query(other, "SELECT id, usage_type, address FROM properties ORDER BY id") == early
    assert _counts(other) == _counts(db_path)


def test_seed_refuses_unmigrated_database(db_path, capsys):
    assert seeder.main([]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "alembic upgrade" in err
    assert not db_path.exists()  # refusing must not leave an empty file behind

    sqlite3.connect(db_path).close()  # an empty database: no tables
    assert seeder.main([]) == 1
    assert "no 'properties' table" in capsys.readouterr().err


def test_seed_refuses_second_run(alembic_cfg, db_path):
    command.upgrade(alembic_cfg, "head")
    assert seeder.main(["--rows", "5"]) == 0
    assert seeder.main(["--rows", "5"]) == 1
    assert _counts(db_path)["properties"] == 5


def test_seed_script_runs_as_a_command(alembic_cfg, db_path):
    command.upgrade(alembic_cfg, REV_TENANTS)
    result = subprocess.run(
        [sys.executable, "scripts/seed_database.py", "--rows", "5", "--seed", "3"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["properties", "5", "rows"]


# ---------------------------------------------------------------- connection helpers

@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db.example:5432/poolula", "postgresql://u:p@db.example:5432/poolula"),
        ("postgresql://u@localhost/poolula", "postgresql://u@localhost/poolula"),
        ("postgresql+psycopg://u@localhost/poolula", "postgresql+psycopg://u@localhost/poolula"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_get_database_url_normalises(monkeypatch, given, expected):
    monkeypatch.setenv("DATABASE_URL", given)
    assert get_database_url() == expected


def test_get_database_url_default(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert get_database_url() == "sqlite:///./poolula.db"


def test_sqlite_engine_enforces_foreign_keys(alembic_cfg, db_path):
    command.upgrade(alembic_cfg, "head")
    engine = get_engine()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_check_connection_reports_unmigrated_database(db_path):
    sqlite3.connect(db_path).close()
    with pytest.raises(RuntimeError, match="no 'properties' table"):
        check_connection()
