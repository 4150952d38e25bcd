"""safeguard's pytest plugin: data-safety tests for a project's own suite.

Installed with safeguard (entry point ``pytest11``), it adds fixtures and three ready
tests, in the spirit of pytest-alembic, but about data: what a destructive revision
does to rows that exist, and whether the snapshot taken before it gives them back.

Enable the ready tests by importing them into one of your test modules::

    from safeguard.pytest_plugin import (  # noqa: F401
        test_chain_upgrades_and_downgrades,
        test_destructive_revisions_are_acknowledged,
        test_destructive_revision_restores_seeded_data,
    )

and give the plugin your seeding function (rows shaped like production's)::

    @pytest.fixture
    def safeguard_seed():
        return my_app.seed_demo_rows   # called with a SQLAlchemy Engine

Settings: ``safeguard_config`` in your pytest ini (default ``alembic.ini`` in the
rootdir); ``--safeguard-url URL`` (or ``SAFEGUARD_TEST_URL``) to run against a
PostgreSQL server, where each test gets a database of its own, created and dropped
around it. Without it, each test gets a fresh SQLite file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

if TYPE_CHECKING:
    import sqlalchemy as sa

# SQLAlchemy is imported where it is used: pytest loads this plugin in every session of
# every project that has safeguard installed, and most of them never use its fixtures
# (importing SQLAlchemy costs such a session about 0.2 s).
Seeder = Callable[["sa.Engine"], Any]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("safeguard_config", "the Alembic config file safeguard's fixtures use",
                  default="alembic.ini")
    group = parser.getgroup("safeguard", "data-safety tests of Alembic revisions")
    group.addoption("--safeguard-url", metavar="URL", default=None,
                    help="database server for safeguard's fixtures: each test gets a database "
                         "of its own there (default: a fresh SQLite file per test; also "
                         "SAFEGUARD_TEST_URL)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per destructive revision, for tests that ask for
    ``safeguard_destructive_revision``."""
    if "safeguard_destructive_revision" not in metafunc.fixturenames:
        return
    revisions = destructive_revisions(_config_path(metafunc.config))
    metafunc.parametrize("safeguard_destructive_revision", revisions or [None],
                         ids=revisions or ["no-destructive-revision"])


def _config_path(config: pytest.Config) -> Path:
    path = Path(config.getini("safeguard_config"))
    return path if path.is_absolute() else Path(config.rootpath) / path


def destructive_revisions(config_file: Path) -> list[str]:
    """The revision ids the classifier calls destructive (or unknown), base first."""
    from .config import load_settings
    from .declarations import declared_helpers
    from .linting import lint, script_locations
    from .project import Project

    settings = load_settings(config_file, environ={})
    found = {c.revision for c in lint(script_locations(settings),
                                      declarations=declared_helpers(settings)).classifications
             if c.is_destructive}
    ordered = reversed(list(Project(settings).script.walk_revisions()))
    return [s.revision for s in ordered if s.revision in found]


# -- fixtures ----------------------------------------------------------------------------

@pytest.fixture
def safeguard_config(request: pytest.FixtureRequest) -> Path:
    """The project's Alembic config file."""
    return _config_path(request.config)


@pytest.fixture
def safeguard_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: a new SQLite file, or a new database on the
    server ``--safeguard-url`` names (dropped afterwards)."""
    server = request.config.getoption("--safeguard-url") or os.environ.get("SAFEGUARD_TEST_URL")
    if not server:
        yield f"sqlite:///{tmp_path / 'safeguard-test.db'}"
        return
    with _scratch_database(server) as url:
        yield url


@pytest.fixture
def safeguard_seed() -> Seeder:
    """The function that fills the database with rows; override it with your own.
    The default inserts a few rows into every table it can fill generically."""
    return seed_generically


@pytest.fixture
def safeguard(safeguard_config: Path, safeguard_database_url: str, safeguard_seed: Seeder,
              tmp_path: Path) -> Iterator["Harness"]:
    """safeguard pointed at this test's database, with a snapshot store of its own."""
    harness = Harness(safeguard_config, safeguard_database_url, tmp_path / "safeguard-store",
                      safeguard_seed)
    try:
        yield harness
    finally:
        harness.dispose()


@dataclass
class Harness:
    """The operations a data-safety test needs, through safeguard's own API."""

    config_file: Path
    url: str
    store: Path
    seeder: Seeder

    def __post_init__(self) -> None:
        import sqlalchemy as sa

        from .config import load_settings

        self.engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        self._settings = load_settings(self.config_file, url=self.url, store=str(self.store),
                                       environ={})

    def settings(self, **overrides: Any) -> Any:
        """The project's settings (read once), with ``overrides`` applied as flags."""
        return self._settings.with_overrides(**overrides)

    def upgrade(self, target: str = "head", **overrides: Any) -> Any:
        """The guarded upgrade (a new SQLite file is created on first use)."""
        from . import api

        return api.migrate(self.settings(**overrides), target, "upgrade", create=True)

    def downgrade(self, target: str, *, app_checks: bool = False, **overrides: Any) -> Any:
        """The guarded downgrade. The application's own checks (smoke_check, sql_check,
        checks) are written for head and are off unless ``app_checks``; the built-in
        ones (integrity, revision, data guard) always run."""
        from dataclasses import replace

        from . import api

        settings = self.settings(**overrides)
        if not app_checks:
            settings = replace(settings, smoke_check=None, sql_checks={}, checks=())
        return api.migrate(settings, target, "downgrade")

    def restore(self, snapshot_id: str) -> Any:
        from . import api

        return api.restore(self.settings(), snapshot_id)

    def heads(self) -> list[str]:
        from . import api

        return list(api.current(self.settings()).heads)

    def seed(self) -> None:
        self.seeder(self.engine)

    def contents(self) -> dict[str, list[tuple]]:
        """Every row of every table (alembic_version included), sorted: the data that
        must survive, compared as a whole."""
        return database_contents(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def database_contents(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every table's rows, sorted, keyed by schema-qualified table name."""
    import sqlalchemy as sa

    contents: dict[str, list[tuple]] = {}
    inspector = sa.inspect(engine)
    schemas = [None] if engine.dialect.name == "sqlite" else [
        s for s in inspector.get_schema_names()
        if s not in ("information_schema",) and not s.startswith("pg_")]
    with engine.connect() as conn:
        for schema in schemas:
            for name in inspector.get_table_names(schema=schema):
                table = sa.Table(name, sa.MetaData(), autoload_with=conn, schema=schema)
                rows = conn.execute(sa.select(table)).all()
                key = f"{schema}.{name}" if schema else name
                contents[key] = sorted((tuple(r) for r in rows), key=repr)
    return contents


@contextlib.contextmanager
def _scratch_database(server_url: str) -> Iterator[str]:
    import sqlalchemy as sa

    url = sa.make_url(server_url)
    name = f"sg_plugin_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- a generic seeder ----------------------------------------------------------------------

GENERIC_ROWS = 5


def seed_generically(engine: sa.Engine, rows: int = GENERIC_ROWS) -> None:
    """A few rows in every table, parents first, foreign keys pointing at real parent
    rows. It knows column types, not meaning: give the plugin your own seeder for data
    a migration would meet in production."""
    import sqlalchemy as sa

    metadata = sa.MetaData()
    metadata.reflect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if table.name == "alembic_version":
                continue
            parents = {
                fk.parent.name: [r[0] for r in conn.execute(sa.select(fk.column)).all()]
                for fk in table.foreign_keys
            }
            values = [_row(table, i, parents) for i in range(rows)]
            if any(not v for v in parents.values()) or not values:
                continue  # a parent table it could not fill
            conn.execute(table.insert(), values)


def _row(table: sa.Table, i: int, parents: dict[str, list]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.name in parents:
            choices = parents[column.name]
            row[column.name] = choices[i % len(choices)] if choices else None
        elif column.primary_key and column.autoincrement and _python_type(column) is int:
            continue
        else:
            row[column.name] = _value(column, i)
    return row


def _python_type(column: sa.Column) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _value(column: sa.Column, i: int) -> Any:
    import datetime as dt
    import decimal

    import sqlalchemy as sa

    kind = _python_type(column)
    if isinstance(column.type, sa.Enum) and column.type.enums:
        return column.type.enums[i % len(column.type.enums)]
    if kind is bool:
        return i % 2 == 0
    if kind is int:
        return i + 1
    if kind is float:
        return i + 0.5
    if kind is decimal.Decimal:
        return decimal.Decimal(i) + decimal.Decimal("0.25")
    if kind is dt.datetime:
        return dt.datetime(2025, 1, 1) + dt.timedelta(days=i)
    if kind is dt.date:
        return dt.date(2025, 1, 1) + dt.timedelta(days=i)
    if kind is uuid.UUID:
        return uuid.UUID(int=i + 1)
    if kind is dict:
        return {"n": i}
    if kind is bytes:
        return bytes([i % 256])
    length = getattr(column.type, "length", None) or 32
    return f"{column.name}-{i + 1}"[:length]


# -- the ready tests -------------------------------------------------------------------------

def test_destructive_revisions_are_acknowledged(safeguard_config: Path) -> None:
    """Every revision that can lose data says so in its file, once reviewed."""
    from .config import load_settings
    from .declarations import declared_helpers
    from .linting import lint, script_locations

    settings = load_settings(safeguard_config, environ={})
    report = lint(script_locations(settings), declarations=declared_helpers(settings))
    missing = [f"{c.revision}: {', '.join(f.code for f in c.findings) or c.verdict}"
               for c in report.unacknowledged]
    assert not missing, f"destructive revisions without an acknowledgement: {missing}"


def test_destructive_revision_restores_seeded_data(safeguard: Harness,
                                                   safeguard_destructive_revision: str | None) -> None:
    """Upgrade to the revision before a destructive one, seed, run the destructive
    revision under safeguard, restore its snapshot: exactly the seeded rows are back."""
    if safeguard_destructive_revision is None:
        pytest.skip("no destructive revision in the history")
    from .project import Project

    script = Project(safeguard.settings()).revision(safeguard_destructive_revision)
    down = script.down_revision
    if isinstance(down, (tuple, list)):
        pytest.skip(f"{safeguard_destructive_revision} is a merge point")
    if down:
        safeguard.upgrade(down)
    safeguard.seed()
    seeded = safeguard.contents()

    result = safeguard.upgrade(safeguard_destructive_revision)
    assert result.snapshot is not None, "safeguard took no snapshot before a destructive revision"
    assert safeguard.heads() == [safeguard_destructive_revision]

    safeguard.restore(result.snapshot.id)
    assert safeguard.heads() == ([down] if down else [])
    assert safeguard.contents() == seeded


def test_chain_upgrades_and_downgrades(safeguard: Harness) -> None:
    """Base to head, back to base, and to head again, every step under safeguard."""
    first = safeguard.upgrade("heads")
    assert first.outcome in ("migrated", "up-to-date")
    heads = sorted(safeguard.heads())
    safeguard.downgrade("base")
    assert safeguard.heads() == []
    safeguard.upgrade("heads")
    assert sorted(safeguard.heads()) == heads
