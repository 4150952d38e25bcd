"""Fixtures for tests against the throwaway MariaDB server that `make test` starts.

scripts/mysqltest.sh exports the server's URL as SAFEGUARD_TEST_MYSQL_URL
(mysql+pymysql://, a password-protected user that may create databases). Without a
server the tests that need one skip, saying why; with SAFEGUARD_REQUIRE_MYSQL=1 (as
.ci/run sets it) they FAIL instead, so CI can never pass by skipping them.

    mysql_server    the server (session): admin connections
    mysql_url       a fresh empty database for one test, dropped afterwards
    mysql_project   the example project pointed at that database
    mysql_seeded    the example project on a database at the seed revision, with demo rows
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any

import pymysql
import pytest
from conftest import SEED_AT, ProjectDir, seed
from sqlalchemy.engine import URL, make_url

REQUIRE = os.environ.get("SAFEGUARD_REQUIRE_MYSQL") == "1"
SEED_ROWS = 30


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when MariaDB is required."""
    if REQUIRE:
        pytest.fail(f"MariaDB is required (SAFEGUARD_REQUIRE_MYSQL=1) but {reason}", pytrace=False)
    pytest.skip(f"no MariaDB server: {reason} (run through `scripts/mysqltest.sh run ...` "
                "or `make test`)")


@dataclass(frozen=True)
class MySQLServer:
    """The test server, reached as the test user."""

    url: URL  # mysql+pymysql://safeguard:PW@127.0.0.1:PORT/mysql

    @property
    def password(self) -> str:
        return self.url.password or ""

    def url_for(self, database: str, **changes: Any) -> str:
        """A SQLAlchemy URL (with the password) for a database on this server."""
        return self.url.set(database=database, **changes).render_as_string(hide_password=False)

    def connect(self, database: str | None = None) -> pymysql.connections.Connection:
        """An autocommit connection."""
        return pymysql.connect(host=self.url.host, port=self.url.port, user=self.url.username,
                               password=self.url.password, database=database, autocommit=True)

    def create_database(self, prefix: str = "sg_test") -> str:
        name = f"{prefix}_{secrets.token_hex(4)}"
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        return name

    def drop_database(self, name: str) -> None:
        """Drop a test database and every auxiliary database safeguard made beside it."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT schema_name FROM information_schema.schemata "
                        "WHERE schema_name = %s OR schema_name LIKE %s",
                        (name, name.replace("_", r"\_") + r"\_\_sg%"))
            for (database,) in cur.fetchall():
                cur.execute(f"DROP DATABASE IF EXISTS `{database}`")


def pytest_report_header(config) -> str:
    raw = os.environ.get("SAFEGUARD_TEST_MYSQL_URL")
    where = f"{make_url(raw).host}:{make_url(raw).port}" if raw else "none"
    return f"mariadb server: {where}{' (required)' if REQUIRE else ''}"


def pytest_runtest_setup(item) -> None:
    """Every test marked mysql, fixtures or not, skips (or fails) without a server."""
    if item.get_closest_marker("mysql") and not os.environ.get("SAFEGUARD_TEST_MYSQL_URL"):
        unavailable("SAFEGUARD_TEST_MYSQL_URL is not set")


@pytest.fixture(scope="session")
def mysql_server() -> MySQLServer:
    """The server scripts/mysqltest.sh started; skip (or fail) when there is none."""
    raw = os.environ.get("SAFEGUARD_TEST_MYSQL_URL")
    if not raw:
        unavailable("SAFEGUARD_TEST_MYSQL_URL is not set")
    server = MySQLServer(make_url(raw))
    try:
        server.connect().close()
    except pymysql.Error as exc:
        unavailable(f"the server at {server.url.host}:{server.url.port} cannot be reached: {exc}")
    return server


@pytest.fixture
def mysql_url(mysql_server) -> str:
    """The URL (mysql+pymysql://) of a fresh, empty database, dropped afterwards."""
    name = mysql_server.create_database()
    yield mysql_server.url_for(name)
    mysql_server.drop_database(name)


@dataclass
class MySQLProjectDir(ProjectDir):
    """The example project, its database on the test server."""

    database_url: str = ""

    @property
    def url(self) -> str:
        return self.database_url

    @property
    def database(self) -> str:
        return make_url(self.database_url).database


@pytest.fixture
def mysql_project(project, mysql_url) -> MySQLProjectDir:
    """A copy of the example project whose --url is a fresh MariaDB database."""
    return MySQLProjectDir(project.root, mysql_url)


@pytest.fixture
def mysql_seeded(mysql_project) -> MySQLProjectDir:
    """The example project on a MariaDB database at the seed revision, with demo rows."""
    done = mysql_project.run("upgrade", SEED_AT, "--policy", "never")
    assert done.returncode == 0, done.stderr
    seed(mysql_project, rows=SEED_ROWS)
    return mysql_project


# -- reading a database's whole state, to compare before and after ---------------------

def database_state(server: MySQLServer, database: str) -> dict[str, Any]:
    """Everything a restore must bring back: every table's rows and columns, indexes,
    foreign keys, views, triggers, routines, events (alembic_version is a table)."""
    with server.connect(database) as conn, conn.cursor() as cur:
        def rows(query: str, *args: Any) -> list[tuple]:
            cur.execute(query, args)
            return [tuple(r) for r in cur.fetchall()]

        tables = [t for (t,) in rows("SELECT table_name FROM information_schema.tables "
                                     "WHERE table_schema = %s AND table_type = 'BASE TABLE' "
                                     "ORDER BY 1", database)]
        return {
            "contents": {t: sorted(rows(f"SELECT * FROM `{t}`"), key=repr) for t in tables},
            "tables": {t: rows(f"SHOW CREATE TABLE `{t}`")[0][1] for t in tables},
            # A view's definition names its database; a copy elsewhere is the same view.
            "views": [(name, text.replace(f"`{database}`.", "")) for name, text in rows(
                "SELECT table_name, view_definition FROM information_schema.views "
                "WHERE table_schema = %s ORDER BY 1", database)],
            "triggers": rows("SELECT trigger_name, event_object_table, action_timing, "
                             "event_manipulation, action_statement FROM information_schema.triggers "
                             "WHERE trigger_schema = %s ORDER BY 1", database),
            "routines": rows("SELECT routine_name, routine_type, routine_definition "
                             "FROM information_schema.routines WHERE routine_schema = %s "
                             "ORDER BY 1", database),
            "events": rows("SELECT event_name, event_definition FROM information_schema.events "
                           "WHERE event_schema = %s ORDER BY 1", database),
        }


def version_of(server: MySQLServer, database: str) -> list[str]:
    with server.connect(database) as conn, conn.cursor() as cur:
        cur.execute("SELECT version_num FROM alembic_version")
        return [row[0] for row in cur.fetchall()]


def auxiliary_databases(server: MySQLServer, database: str) -> list[str]:
    """The databases safeguard made beside ``database`` that still exist."""
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s "
                    "ORDER BY 1", (database.replace("_", r"\_") + r"\_\_sg%",))
        return [row[0] for row in cur.fetchall()]
