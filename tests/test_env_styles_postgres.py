"""An env.py that reads its PostgreSQL URL from the environment, under `safeguard
upgrade head`: rollback of a failing revision, then head; and a --url naming another
database on the same server refused before anything is written."""

from __future__ import annotations

import pytest
from postgres_support import database_state
from sqlalchemy.engine import make_url

from test_env_styles import FAILING, make_project, style_named

pytestmark = pytest.mark.postgres

STYLE = style_named("envvar")


@pytest.fixture
def pg_envvar(tmp_path, pg_server, pg_url):
    """The `envvar` project with APP_DB_URL naming a fresh database at its first revision."""
    env = {"APP_DB_URL": pg_url}
    if pg_server.bindir:
        env["SAFEGUARD_PG_BINDIR"] = pg_server.bindir
    return make_project(tmp_path, STYLE, url=pg_url, env=env)


def identity(url: str) -> str:
    parsed = make_url(url)
    return f"{parsed.host}:{parsed.port}/{parsed.database}"


def test_env_var_style_on_postgresql(pg_envvar, pg_server, pg_url):
    database = make_url(pg_url).database
    failing = pg_envvar.add_failing_revision()
    before = database_state(pg_server, database)

    failed = pg_envvar.safeguard("upgrade", "head")

    assert failed.returncode == 6, failed.stderr
    assert f"revision {FAILING} failed: IntegrityError" in failed.stderr
    assert database_state(pg_server, database) == before

    failing.unlink()
    done = pg_envvar.safeguard("upgrade", "head")

    assert done.returncode == 0, done.stderr
    with pg_server.connect(database) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(STYLE.head,)]
        assert conn.execute("SELECT count(*) FROM information_schema.columns "
                            "WHERE table_name = 'items' AND column_name = 'note'").fetchone() == (0,)
        assert conn.execute("SELECT id FROM items ORDER BY id").fetchall() == [(i,) for i in range(1, 6)]
    manifests = pg_envvar.snapshots()
    assert [(m["engine"], m["database"], m["revisions"]) for m in manifests] == \
        [("postgresql", identity(pg_url), [STYLE.start])] * 2


def test_url_naming_another_postgresql_database_is_refused(pg_envvar, pg_server, pg_url):
    database = make_url(pg_url).database
    other = pg_server.create_database()
    try:
        before = database_state(pg_server, database)
        empty = database_state(pg_server, other)

        result = pg_envvar.safeguard("--url", pg_server.url_for(other), "upgrade", "head")

        assert result.returncode == 3, result.stderr
        [line] = result.stderr.splitlines()
        assert f"env.py connected to {identity(pg_url)} " in line
        assert f"--url/DATABASE_URL names {identity(pg_server.url_for(other))}:" in line
        assert pg_server.password not in result.stderr
        assert database_state(pg_server, database) == before
        assert database_state(pg_server, other) == empty
        assert not (pg_envvar.root / ".safeguard").exists()
    finally:
        pg_server.drop_database(other)


def test_localhost_and_127_0_0_1_are_the_same_server(tmp_path, pg_server, pg_url):
    """env.py says localhost, --url says 127.0.0.1 (same port, same database): one
    server, so the guarded run goes ahead; the snapshot is of the database env.py named."""
    assert make_url(pg_url).host == "127.0.0.1"
    spelled = make_url(pg_url).set(host="localhost").render_as_string(hide_password=False)
    env = {"APP_DB_URL": spelled}
    if pg_server.bindir:
        env["SAFEGUARD_PG_BINDIR"] = pg_server.bindir
    project = make_project(tmp_path, STYLE, url=pg_url, env=env)

    done = project.safeguard("--url", pg_url, "upgrade", "head")

    assert done.returncode == 0, done.stderr
    with pg_server.connect(make_url(pg_url).database) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(STYLE.head,)]
    assert [m["database"] for m in project.snapshots()] == [identity(spelled)]


@pytest.mark.parametrize("change", [{"host": "127.0.0.2"}, {"port": 1}],
                         ids=["another-address", "another-port"])
def test_another_address_or_port_is_still_another_server(tmp_path, pg_server, pg_url, change):
    spelled = make_url(pg_url).set(host="localhost").render_as_string(hide_password=False)
    env = {"APP_DB_URL": spelled}
    if pg_server.bindir:
        env["SAFEGUARD_PG_BINDIR"] = pg_server.bindir
    project = make_project(tmp_path, STYLE, url=pg_url, env=env)
    before = database_state(pg_server, make_url(pg_url).database)
    other = make_url(pg_url).set(**change).render_as_string(hide_password=False)

    result = project.safeguard("--url", other, "upgrade", "head")

    assert result.returncode == 3, result.stderr
    [line] = result.stderr.splitlines()
    assert f"--url/DATABASE_URL names {identity(other)}" in line, line
    assert database_state(pg_server, make_url(pg_url).database) == before
    assert not (project.root / ".safeguard").exists()
