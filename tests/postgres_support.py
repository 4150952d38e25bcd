"""Fixtures for tests against the throwaway PostgreSQL server that `make test` starts.

scripts/pgtest.sh exports the server's URL as SAFEGUARD_TEST_PG_URL (and its bin
directory as SAFEGUARD_TEST_PG_BINDIR). Without a server the tests that need one skip,
saying why; with SAFEGUARD_REQUIRE_POSTGRES=1 (as .ci/run sets it) they FAIL instead,
so CI can never pass by skipping them.

    pg_server    the server (session): admin connections, its bin directory
    pg_url       a fresh empty database for one test, dropped afterwards
    pg_project   the example project pointed at that database
    pg_seeded    the example project on a database at the seed revision, with demo rows
    pg_at_head   ... and migrated through the whole chain
    pg_role      a throwaway role, to own things and be granted things
"""

from __future__ import annotations

import os
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import psycopg
import pytest
from conftest import HEAD, REPO, SEED_AT, ProjectDir, seed
from sqlalchemy.engine import URL, make_url

REQUIRE = os.environ.get("SAFEGUARD_REQUIRE_POSTGRES") == "1"
SEED_ROWS = 30


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when PostgreSQL is required."""
    if REQUIRE:
        pytest.fail(f"PostgreSQL is required (SAFEGUARD_REQUIRE_POSTGRES=1) but {reason}",
                    pytrace=False)
    pytest.skip(f"no PostgreSQL server: {reason} (run through `scripts/pgtest.sh run ...` "
                "or `make test`)")


@dataclass(frozen=True)
class PgServer:
    """The test server, reached as its superuser."""

    url: URL  # postgresql+psycopg://postgres:PW@127.0.0.1:PORT/postgres
    bindir: str | None

    @property
    def password(self) -> str:
        return self.url.password or ""

    def url_for(self, database: str, **changes: Any) -> str:
        """A SQLAlchemy URL (with the password) for a database on this server."""
        return self.url.set(database=database, **changes).render_as_string(hide_password=False)

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        """An autocommit admin connection."""
        return psycopg.connect(host=self.url.host, port=self.url.port, user=self.url.username,
                               password=self.url.password, dbname=database, autocommit=True)

    def create_database(self, prefix: str = "sg_test", *, template: str | None = None) -> str:
        """A new database, empty or a copy of ``template``."""
        name = f"{prefix}_{secrets.token_hex(4)}"
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop_database(self, name: str) -> None:
        """Drop a test database and every auxiliary database safeguard made beside it."""
        with self.connect() as conn:
            found = [row[0] for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
                (name, name.replace("_", r"\_") + ".sg-%"))]
            for database in found:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def pytest_report_header(config) -> str:
    raw = os.environ.get("SAFEGUARD_TEST_PG_URL")
    where = f"{make_url(raw).host}:{make_url(raw).port}" if raw else "none"
    return f"postgresql server: {where}{' (required)' if REQUIRE else ''}"


def pytest_runtest_setup(item) -> None:
    """Every test marked postgres, fixtures or not, skips (or fails) without a server."""
    if item.get_closest_marker("postgres") and not os.environ.get("SAFEGUARD_TEST_PG_URL"):
        unavailable("SAFEGUARD_TEST_PG_URL is not set")


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    """The server scripts/pgtest.sh started; skip (or fail) when there is none."""
    raw = os.environ.get("SAFEGUARD_TEST_PG_URL")
    if not raw:
        unavailable("SAFEGUARD_TEST_PG_URL is not set")
    url = make_url(raw).set(drivername="postgresql+psycopg")
    server = PgServer(url, os.environ.get("SAFEGUARD_TEST_PG_BINDIR") or None)
    try:
        server.connect().close()
    except psycopg.Error as exc:
        unavailable(f"the server at {url.host}:{url.port} cannot be reached: "
                    f"{str(exc).splitlines()[0]}")
    return server


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL (postgresql+psycopg://) of a fresh, empty database, dropped afterwards."""
    name = pg_server.create_database()
    yield pg_server.url_for(name)
    pg_server.drop_database(name)


@dataclass
class PgProjectDir(ProjectDir):
    """The example project, its database on the test server."""

    database_url: str = ""

    @property
    def url(self) -> str:
        return self.database_url

    @property
    def database(self) -> str:
        return make_url(self.database_url).database

    def pointed_at(self, url: str) -> "PgProjectDir":
        """The same project directory, run against another URL."""
        return PgProjectDir(self.root, url)


@pytest.fixture
def pg_project(project, pg_url, pg_server, monkeypatch) -> PgProjectDir:
    """A copy of the example project whose --url is a fresh PostgreSQL database.

    pg_bindir comes from the environment, so a test can still append its own
    [safeguard] section to alembic.ini.
    """
    if pg_server.bindir:
        monkeypatch.setenv("SAFEGUARD_PG_BINDIR", pg_server.bindir)
    return PgProjectDir(project.root, pg_url)


@pytest.fixture(scope="session")
def pg_seed_templates(pg_server, tmp_path_factory) -> dict[str, str]:
    """Seeded databases built once per session (at the seed revision, and migrated on
    to head), which each test copies: a copy takes milliseconds, seeding seconds."""
    root = tmp_path_factory.mktemp("pg-templates") / "project"
    root.mkdir()
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "alembic", root / "alembic", ignore=shutil.ignore_patterns("__pycache__"))
    built: dict[str, str] = {}
    try:
        for revision in (SEED_AT, HEAD):
            name = pg_server.create_database(f"sg_template_{revision}", template=built.get(SEED_AT))
            built[revision] = name
            project = PgProjectDir(root, pg_server.url_for(name))
            done = project.run("upgrade", revision, "--policy", "never")
            assert done.returncode == 0, done.stderr
            if revision == SEED_AT:
                seed(project, rows=SEED_ROWS)
        yield built
    finally:
        for name in built.values():
            pg_server.drop_database(name)


def _project_on_copy(project, pg_server, monkeypatch, template: str) -> PgProjectDir:
    if pg_server.bindir:
        monkeypatch.setenv("SAFEGUARD_PG_BINDIR", pg_server.bindir)
    name = pg_server.create_database(template=template)
    return PgProjectDir(project.root, pg_server.url_for(name))


@pytest.fixture
def pg_seeded(project, pg_server, pg_seed_templates, monkeypatch) -> PgProjectDir:
    """The example project on a PostgreSQL database at the seed revision, with demo rows."""
    seeded = _project_on_copy(project, pg_server, monkeypatch, pg_seed_templates[SEED_AT])
    yield seeded
    pg_server.drop_database(seeded.database)


@pytest.fixture
def pg_at_head(project, pg_server, pg_seed_templates, monkeypatch) -> PgProjectDir:
    """The same demo rows, migrated through the whole example chain."""
    migrated = _project_on_copy(project, pg_server, monkeypatch, pg_seed_templates[HEAD])
    yield migrated
    pg_server.drop_database(migrated.database)


@contextmanager
def throwaway_role(server: PgServer, prefix: str, options: str) -> Iterator[str]:
    """A role created for the body (``CREATE ROLE name options``), dropped after it."""
    name = f"{prefix}_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(f'CREATE ROLE "{name}" {options}')
    yield name
    with server.connect() as conn:
        try:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')
        except psycopg.Error:
            pass  # still owns something in a database another fixture drops later


@pytest.fixture
def pg_role(pg_server) -> Iterator[str]:
    """A throwaway login role (request it before pg_url, so it outlives the database)."""
    with throwaway_role(pg_server, "sg_role", "LOGIN") as name:
        yield name


# -- reading a database's whole state, to compare before and after ---------------------

USER_SCHEMAS = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"


def database_state(server: PgServer, database: str) -> dict[str, Any]:
    """Everything a restore must bring back: rows, relations, types, sequences and
    their values, constraints, indexes, owners, privileges, database-level settings."""
    with server.connect(database) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMAS} ORDER BY 1, 2").fetchall()
        contents = {f"{s}.{t}": sorted(conn.execute(f'SELECT * FROM "{s}"."{t}"').fetchall(), key=repr)
                    for s, t in tables}
        sequences = {}
        for s, q in conn.execute(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE c.relkind = 'S' AND {USER_SCHEMAS} ORDER BY 1, 2").fetchall():
            sequences[f"{s}.{q}"] = conn.execute(f'SELECT last_value, is_called FROM "{s}"."{q}"').fetchone()
        state = {
            "contents": contents,
            "sequences": sequences,
            "relations": conn.execute(
                "SELECT n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner), "
                "(SELECT array_agg(format('%s:%s:%s:%s', coalesce(g.rolname, 'PUBLIC'), "
                "pg_get_userbyid(a.grantor), a.privilege_type, a.is_grantable) ORDER BY 1) "
                " FROM aclexplode(c.relacl) a LEFT JOIN pg_roles g ON g.oid = a.grantee) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE {USER_SCHEMAS} ORDER BY 1, 2").fetchall(),
            "types": conn.execute(
                "SELECT n.nspname, t.typname, t.typtype, pg_get_userbyid(t.typowner) FROM pg_type t "
                f"JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {USER_SCHEMAS} ORDER BY 1, 2").fetchall(),
            "constraints": conn.execute(
                "SELECT conrelid::regclass::text, conname, convalidated, pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE connamespace IN (SELECT oid FROM pg_namespace n "
                f"WHERE {USER_SCHEMAS}) ORDER BY 1, 2").fetchall(),
            "indexes": conn.execute(
                "SELECT schemaname, indexname, indexdef FROM pg_indexes "
                "WHERE schemaname !~ '^pg_' AND schemaname <> 'information_schema' ORDER BY 1, 2").fetchall(),
            "schemas": conn.execute(
                "SELECT n.nspname, pg_get_userbyid(n.nspowner), n.nspacl::text FROM pg_namespace n "
                f"WHERE {USER_SCHEMAS} ORDER BY 1").fetchall(),
            "database": database_properties(conn, database),
        }
    return state


def database_properties(conn: psycopg.Connection, database: str) -> dict[str, Any]:
    """Owner, privileges, settings and comment of a database."""
    owner, limit, comment = conn.execute(
        "SELECT pg_get_userbyid(datdba), datconnlimit, shobj_description(oid, 'pg_database') "
        "FROM pg_database WHERE datname = %s", (database,)).fetchone()
    acl = conn.execute(
        "SELECT coalesce(g.rolname, 'PUBLIC'), pg_get_userbyid(a.grantor), a.privilege_type, "
        "a.is_grantable FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a "
        "LEFT JOIN pg_roles g ON g.oid = a.grantee WHERE d.datname = %s ORDER BY 1, 2, 3",
        (database,)).fetchall()
    settings = conn.execute(
        "SELECT r.rolname, s.setconfig FROM pg_db_role_setting s "
        "JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole "
        "WHERE d.datname = %s ORDER BY 1 NULLS FIRST", (database,)).fetchall()
    return {"owner": owner, "connection_limit": limit, "comment": comment, "acl": acl,
            "settings": settings}


def version_of(server: PgServer, database: str) -> list[str]:
    with server.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]


def auxiliary_databases(server: PgServer, database: str) -> list[str]:
    """The databases safeguard made beside ``database`` that still exist."""
    with server.connect() as conn:
        return [row[0] for row in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1",
            (database.replace("_", r"\_") + ".sg-%",))]
