"""Shared fixtures: a copy of the example project in a temporary directory, a real
SQLite database for it, and helpers to run the real CLI in-process or as a process."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from safeguard.cli import main

pytest_plugins = ["postgres_support", "mysql_support", "s3_support", "pytester", "reliability.plugin"]

REPO = Path(__file__).resolve().parents[1]
#: Revisions of the example chain, base first.
CHAIN = (
    "63f5e369059c",  # initial schema
    "b60d3cbe6a3c",  # add zoning
    "487abfc8c902",  # add property_manager
    "1580131d7fd2",  # add tenants
    "7fcb413ce398",  # rename property_type -> usage_type
    "de2d457f8ad0",  # year_built text -> integer
    "e718c4af176b",  # index ix_properties_status
    "7ff34d85758f",  # backfill full_address
    "869693962fcc",  # drop legacy_owner_notes
)
HEAD = CHAIN[-1]
SEED_AT = CHAIN[3]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    """No test sees the developer's DATABASE_URL, SAFEGUARD_* settings or AWS
    credentials, and whatever a test sets is undone afterwards."""
    for key in list(os.environ):
        if key == "DATABASE_URL" or key.startswith("AWS_") or (
                key.startswith("SAFEGUARD_") and not key.startswith("SAFEGUARD_TEST")
                and key not in ("SAFEGUARD_REQUIRE_POSTGRES", "SAFEGUARD_REQUIRE_S3")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///./poolula.db")  # restored after the test


@dataclass
class ProjectDir:
    """A throwaway copy of the example project: alembic.ini, alembic/, a database."""

    root: Path

    @property
    def ini(self) -> Path:
        return self.root / "alembic.ini"

    @property
    def db(self) -> Path:
        return self.root / "poolula.db"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"

    @property
    def store(self) -> Path:
        return self.root / ".safeguard"

    @property
    def versions(self) -> Path:
        return self.root / "alembic" / "versions"

    def add_revision(self, rev: str, down: str | None, body: str, doc: str = "test revision") -> Path:
        """Write a revision file whose upgrade() is ``body``."""
        header = (
            f'"""{doc}\n\nRevision ID: {rev}\nRevises: {down}\n"""\n'
            "import sqlalchemy as sa\nfrom alembic import op\n\n"
            f"revision = {rev!r}\ndown_revision = {down!r}\n"
            "branch_labels = None\ndepends_on = None\n\n\n"
        )
        upgrade = "def upgrade():\n" + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    ")
        path = self.versions / f"{rev}_test.py"
        path.write_text(header + upgrade + "\n\ndef downgrade():\n    pass\n")
        return path

    def configure(self, **keys: str) -> None:
        """Add keys to the [safeguard] section of the project's alembic.ini (sql_check
        keys are spelled sql_check__NAME here)."""
        text = self.ini.read_text()
        if "\n[safeguard]\n" not in text:
            text += "\n[safeguard]\n"
        for key, value in keys.items():
            key = key.replace("__", ".")
            line = f"{key} = {value}"
            existing = re.search(rf"^{re.escape(key)} =.*$", text, flags=re.M)
            if existing:
                text = text[:existing.start()] + line + text[existing.end():]
            else:
                text = text.replace("\n[safeguard]\n", f"\n[safeguard]\n{line}\n", 1)
        self.ini.write_text(text)

    def cli(self, *args: str, expect: int | None = 0):
        """Run the real CLI in-process, from the project directory."""
        runner = CliRunner()
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            result = runner.invoke(main, ["-c", str(self.ini), "--url", self.url, *args],
                                   catch_exceptions=False)
        finally:
            os.chdir(cwd)
        if expect is not None:
            assert result.exit_code == expect, (
                f"exit {result.exit_code}, expected {expect}\n--- stdout\n{result.stdout}"
                f"\n--- stderr\n{result.stderr}"
            )
        return result

    def run(self, *args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
        """Run the real CLI as a separate process."""
        return subprocess.run(
            [sys.executable, "-m", "safeguard", "-c", str(self.ini), "--url", self.url, *args],
            cwd=self.root, capture_output=True, text=True,
            env={**os.environ, **(env or {})}, **kwargs,
        )


@pytest.fixture
def project(tmp_path) -> ProjectDir:
    """A copy of the example project, with no database yet."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "alembic", root / "alembic",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return ProjectDir(root)


def seed(project: ProjectDir, rows: int = 40) -> None:
    """Fill the project's database with demo rows through the real seed script."""
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "seed_database.py"), "--rows", str(rows)],
        cwd=REPO, env={**os.environ, "DATABASE_URL": project.url},
        check=True, capture_output=True, text=True,
    )


@pytest.fixture
def seeded(project) -> ProjectDir:
    """The example project's database at an early revision, filled with demo rows."""
    project.cli("upgrade", SEED_AT, "--create", "--policy", "never")
    seed(project)
    return project


def load_module(name: str, path: Path):
    """A Python file that is no package's module (a script, a docs hook), imported."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_contents(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: equal contents compare equal."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def version_of(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
    finally:
        conn.close()


def schema_of(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    finally:
        conn.close()


@pytest.fixture
def stock_project(tmp_path) -> ProjectDir:
    """A project as `alembic init` writes it (its env.py calls fileConfig() with the
    default disable_existing_loggers=True), with no revisions and no database yet."""
    root = tmp_path / "stock"
    shutil.copytree(REPO / "tests" / "envstyles" / "stock", root,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "alembic" / "versions").mkdir()
    return ProjectDir(root)
