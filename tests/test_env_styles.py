"""safeguard runs an existing Alembic project's env.py unmodified, whatever its style.

Each project under tests/envstyles/ is written the way real projects write theirs (see
tests/envstyles/README.md). Each test copies one, brings its database to an early
revision with Alembic itself, fills it with rows, and runs the real `safeguard upgrade
head` as a process from the project's directory, as a user would on the first try.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import schema_of, table_contents, version_of
from sqlalchemy import create_engine, pool, text

STYLES_DIR = Path(__file__).resolve().parent / "envstyles"
CHAIN = ("5e1a00000001", "5e1a00000002", "5e1a00000003")
FAILING = "fa11ed000001"
ITEMS = [(i, f"item {i}", f"note {i}") for i in range(1, 6)]

NOTE_GONE = "(SELECT count(*) FROM pragma_table_info('items') WHERE name = 'note') = 0"


def has_table(name: str) -> str:
    return f"(SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{name}') = 1"


@dataclass(frozen=True)
class Style:
    """One fixture project and how its user runs it. ``{root}`` in args, env and
    urls stands for the project's copy."""

    name: str
    #: Where revisions live (relative to the project); the revisions of
    #: envstyles/_chain named in ``shared`` are copied there.
    versions: str
    #: SQL that returns one true value when the database is at head.
    at_head: str
    start: str | None = CHAIN[0]
    head: str = CHAIN[-1]
    shared: tuple[str, ...] = CHAIN
    db: str = "app.db"
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    #: The directory safeguard runs in, relative to the copy.
    cwd: str = "."
    store: str = ".safeguard"
    #: The URL the setup hands Alembic's API when env.py cannot find one alone.
    setup_url: str | None = None
    #: A line the successful run must print (a check only this style configures).
    says: str | None = None

    def __str__(self) -> str:
        return self.name


CHAIN_AT_HEAD = f"{NOTE_GONE} AND {has_table('tags')}"

STYLES = [
    Style("stock", "alembic/versions", CHAIN_AT_HEAD),
    Style("relative", "migrations/versions", CHAIN_AT_HEAD, db="var/app.db"),
    Style("here", "db/migrations/versions", CHAIN_AT_HEAD, cwd="..",
          args=("-c", "{root}/alembic.ini")),
    Style("envvar", "alembic/versions", CHAIN_AT_HEAD,
          env={"APP_DB_URL": "sqlite:///{root}/app.db"}),
    Style("settings", "alembic/versions", CHAIN_AT_HEAD, db="data/myapp.db"),
    Style("cookbook", "alembic/versions", CHAIN_AT_HEAD),
    Style("batch", "alembic/versions",
          f"{NOTE_GONE} AND (SELECT count(*) FROM pragma_table_info('items') WHERE name = 'price') = 1",
          head="6b0000000003", shared=CHAIN[:1]),
    Style("versionlocs", "migrations/schema",
          "(SELECT count(*) FROM items WHERE name LIKE 'item _ (note _)') = 5"
          " AND (SELECT count(*) FROM sqlite_master WHERE name = 'ix_items_name') = 1",
          head="7c0000000003", shared=CHAIN[:1]),
    Style("branches", "alembic/versions", f"{NOTE_GONE} AND {has_table('audit_log')}",
          head="8d0000000004", shared=CHAIN[:1]),
    Style("external", "alembic/versions",
          f"{NOTE_GONE} AND (SELECT count(*) FROM pragma_table_info('items') WHERE name = 'sku') = 1",
          start=None, head="9e0000000002", shared=()),
    Style("emptyurl", "alembic/versions", CHAIN_AT_HEAD, args=("--url", "sqlite:///app.db"),
          setup_url="sqlite:///app.db"),
    Style("pyproject", "migrations/versions", CHAIN_AT_HEAD, db="instance/inventory.db",
          store="var/backups", says="passed   sql:items_have_names"),
]


@dataclass
class StyleProject:
    """A copy of one fixture project, its database at the style's start revision."""

    style: Style
    root: Path
    #: Variables that replace the style's own (a PostgreSQL URL for APP_DB_URL, say).
    env_overrides: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.root / self.style.db

    def expand(self, text: str) -> str:
        return text.replace("{root}", str(self.root))

    def environ(self) -> dict[str, str]:
        """The test process's environment without any database or safeguard setting
        (conftest's DATABASE_URL included), plus the style's own variables."""
        base = {k: v for k, v in os.environ.items()
                if k != "DATABASE_URL" and not (k.startswith("SAFEGUARD_")
                                                and not k.startswith("SAFEGUARD_TEST"))}
        return {**base, **{k: self.expand(v) for k, v in self.style.env.items()},
                **self.env_overrides}

    def safeguard(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """The real CLI, as a process, from the directory the style's user runs it in."""
        argv = [self.expand(a) for a in self.style.args]
        return subprocess.run(
            [sys.executable, "-m", "safeguard", *argv, *args],
            cwd=(self.root / self.style.cwd).resolve(), capture_output=True, text=True,
            env={**self.environ(), **(extra_env or {})}, timeout=120,
        )

    def snapshots(self) -> list[dict]:
        """Every manifest in the style's store."""
        snapshots = self.root / self.style.store / "snapshots"
        return [json.loads(p.read_text()) for p in sorted(snapshots.glob("*/manifest.json"))]

    def add_failing_revision(self) -> Path:
        """A revision after head that creates a table, then fails on a duplicate key."""
        path = self.root / self.style.versions / f"{FAILING}_fails.py"
        path.write_text(
            f'"""fails half way\n\nRevision ID: {FAILING}\nRevises: {self.style.head}\n"""\n'
            "import sqlalchemy as sa\nfrom alembic import op\n\n"
            f"revision = {FAILING!r}\ndown_revision = {self.style.head!r}\n"
            "branch_labels = None\ndepends_on = None\n\n\n"
            "def upgrade() -> None:\n"
            '    op.create_table("leftover", sa.Column("id", sa.Integer, primary_key=True))\n'
            '    op.execute("INSERT INTO items (id, name) SELECT id, name FROM items")\n\n\n'
            "def downgrade() -> None:\n    pass\n"
        )
        return path


SETUP = """
import sys
from alembic import command
from alembic.config import Config
ini, toml, url, rev = sys.argv[1:]
config = Config(ini or None, toml_file=toml or None)
if url:
    config.set_main_option("sqlalchemy.url", url)
command.upgrade(config, rev)
"""


def style_named(name: str) -> Style:
    [style] = [s for s in STYLES if s.name == name]
    return style


def make_project(tmp_path: Path, style: Style, *, url: str | None = None,
                 env: dict[str, str] | None = None) -> StyleProject:
    """Copy the fixture, bring its database to the start revision with Alembic's own
    API (tables made outside Alembic for the `external` style), and add rows through
    ``url`` (default: the style's SQLite file). ``env`` replaces style variables."""
    root = tmp_path / style.name
    shutil.copytree(STYLES_DIR / style.name, root)
    versions = root / style.versions
    versions.mkdir(parents=True, exist_ok=True)
    for rev in style.shared:
        [path] = (STYLES_DIR / "_chain").glob(f"{rev}_*.py")
        shutil.copy(path, versions / path.name)
    sp = StyleProject(style, root, env or {})
    sp.db.parent.mkdir(parents=True, exist_ok=True)
    if style.start is None:
        with sqlite3.connect(sp.db) as conn:
            conn.executescript((root / "schema.sql").read_text())
    else:
        ini, toml = root / "alembic.ini", root / "pyproject.toml"
        subprocess.run(
            [sys.executable, "-c", SETUP, str(ini) if ini.exists() else "",
             str(toml) if toml.exists() else "", style.setup_url or "", style.start],
            cwd=root, env=sp.environ(), check=True, capture_output=True, text=True,
        )
    engine = create_engine(url or f"sqlite:///{sp.db}", poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO items (id, name, note) VALUES (:id, :name, :note)"),
                     [{"id": i, "name": n, "note": note} for i, n, note in ITEMS])
    return sp


def snapshot_contents(sp: StyleProject, manifest: dict) -> dict:
    return table_contents(sp.root / sp.style.store / "snapshots" / manifest["id"] / "database.sqlite")


@pytest.mark.parametrize("style", STYLES, ids=str)
def test_upgrade_head_runs_the_projects_own_env_py(tmp_path, style):
    """A revision failing after the destructive one is rolled back; once it is gone,
    the same database goes on to head. Both runs snapshot the state before them."""
    sp = make_project(tmp_path, style)
    failing = sp.add_failing_revision()
    before, schema = table_contents(sp.db), schema_of(sp.db)

    failed = sp.safeguard("upgrade", "head")

    assert failed.returncode == 6, failed.stderr
    assert f"revision {FAILING} failed: IntegrityError" in failed.stderr
    assert "restored snapshot" in failed.stderr
    # Every row of every table as it was (alembic_version included, or still absent
    # where Alembic had never run), and no table the failed run created.
    assert table_contents(sp.db) == before
    assert schema_of(sp.db) == schema

    failing.unlink()
    done = sp.safeguard("upgrade", "head")

    assert done.returncode == 0, done.stderr
    assert style.says is None or style.says in done.stderr, done.stderr
    assert version_of(sp.db) == [style.head]
    with sqlite3.connect(sp.db) as conn:
        assert conn.execute(f"SELECT {style.at_head}").fetchone() == (1,), done.stderr
        assert [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id")] == [1, 2, 3, 4, 5]
    conn.close()
    manifests = sp.snapshots()
    assert len(manifests) == 2
    for manifest in manifests:
        assert manifest["revisions"] == ([style.start] if style.start else [])
        assert manifest["database"] == str(sp.db.resolve())
        assert snapshot_contents(sp, manifest) == before
