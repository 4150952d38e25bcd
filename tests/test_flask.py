"""`flask safeguard ...` on real Flask + Flask-SQLAlchemy + Flask-Migrate applications.

Each test writes a small shop application, lets Flask-Migrate create its repository
(`flask db init`) and generate its revisions from the models (`flask db migrate`), then
runs safeguard's commands through Flask's own command line, as a Flask team would.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import schema_of, table_contents, version_of

pytest.importorskip("flask_migrate")

APP = '''
import json
import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()

from models import *  # noqa: E402,F401,F403 - the models of this step of the story


@migrate.configure
def record_alembic_config(config):
    # Proves the Config comes from Flask-Migrate: its callbacks run, -x reaches them.
    with open("configured.json", "w") as out:
        json.dump({"x": list(getattr(config.cmd_opts, "x", [])),
                   "script_location": config.get_main_option("script_location")}, out)
    return config


def smoke_check():
    # Uses the application's session: runs on the check's own thread, so it needs the
    # application context there too.
    from sqlalchemy import text
    return db.session.execute(text("SELECT count(*) FROM customer")).scalar() >= 0


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["SHOP_DATABASE_URL"]
    db.init_app(app)
    migrate.init_app(app, db, compare_type=True)
    return app
'''

MODELS_V1 = '''
from shop import db


class Customer(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), nullable=False)
    fax = db.Column(db.String(40))


class Purchase(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    customer_id = db.Column(db.Integer, db.ForeignKey("customer.id"), nullable=False)
    total = db.Column(db.Integer, nullable=False)
'''

# The fax column is gone from the models: `flask db migrate` generates a drop_column.
MODELS_V2 = MODELS_V1.replace('    fax = db.Column(db.String(40))\n', '')

FAILING = '''
"""Archive purchases (fails half-way)

Revision ID: {rev}
Revises: {down}
"""
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_table("purchase")
    op.execute("INSERT INTO purchase_archive SELECT * FROM purchase")


def downgrade():
    pass
'''


class Shop:
    """The application's directory, and Flask's command line run in it."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        (root / "shop.py").write_text(textwrap.dedent(APP))
        self.models(MODELS_V1)

    def models(self, text: str) -> None:
        (self.root / "models.py").write_text(textwrap.dedent(text))

    def flask(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "SHOP_DATABASE_URL": self.url, "FLASK_APP": "shop"}
        env.pop("DATABASE_URL", None)
        result = subprocess.run([sys.executable, "-m", "flask", *args], cwd=self.root, env=env,
                                capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"flask {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def revisions(self) -> list[Path]:
        return sorted((self.root / "migrations" / "versions").glob("*.py"))

    def generate(self, message: str) -> str:
        """`flask db migrate`: a revision generated from the models; its id."""
        before = set(self.revisions())
        self.flask("db", "migrate", "-m", message)
        (new,) = set(self.revisions()) - before
        return new.name.split("_", 1)[0]

    def add_failing_revision(self, down: str) -> str:
        rev = "f0a1ed000001"
        (self.root / "migrations" / "versions" / f"{rev}_archive.py").write_text(
            FAILING.format(rev=rev, down=down))
        return rev

    def configure(self, text: str) -> None:
        """Append a [safeguard] section to Flask-Migrate's alembic.ini."""
        ini = self.root / "migrations" / "alembic.ini"
        ini.write_text(ini.read_text() + "\n[safeguard]\n" + textwrap.dedent(text))


def _seed(run_sql) -> None:
    run_sql("INSERT INTO customer (id, name, fax) VALUES (1, 'Ada', '555-1'), (2, 'Grace', NULL)")
    run_sql("INSERT INTO purchase (id, customer_id, total) VALUES (1, 1, 120), (2, 1, 80), (3, 2, 45)")


def _story(shop: Shop, run_sql, state, version) -> None:
    """Generated initial revision; a generated destructive one that succeeds; a
    hand-written destructive one that fails and is restored exactly."""
    shop.flask("db", "init")
    shop.configure("metadata = shop:db.metadata\nsmoke_check = shop:smoke_check\n")
    initial = shop.generate("initial")
    done = shop.flask("safeguard", "upgrade", "--create")
    assert "Done: the database is at" in done.stderr
    assert version() == [initial]
    _seed(run_sql)

    shop.models(MODELS_V2)
    drop_fax = shop.generate("drop fax")
    plan = json.loads(shop.flask("safeguard", "--json", "plan").stdout)
    (step,) = plan["steps"]
    assert step["verdict"] == "destructive" and step["revision"] == drop_fax

    result = shop.flask("safeguard", "--json", "upgrade")
    report = json.loads(result.stdout)
    assert report["outcome"] == "migrated", result.stderr
    assert report["snapshot"] is not None
    checks = {c["name"]: c["status"] for c in report["health"]["checks"]}
    assert checks["drift"] == "passed", report["health"]  # the schema matches the models
    assert checks["data_guard"] == "passed"
    assert checks["smoke"] == "passed", report["health"]  # db.session, on the check's thread
    assert version() == [drop_fax]
    assert sorted(run_sql("SELECT id, name FROM customer")) == [(1, "Ada"), (2, "Grace")]

    failing = shop.add_failing_revision(drop_fax)
    before = state()
    result = shop.flask("safeguard", "upgrade", check=False)
    assert result.returncode == 6, result.stderr
    assert failing in result.stderr and "restored" in result.stderr
    assert state() == before  # every table, row for row; the schema; alembic_version
    assert version() == [drop_fax]


def test_flask_migrate_app_on_sqlite(tmp_path):
    db = tmp_path / "instance" / "shop.db"
    db.parent.mkdir()
    shop = Shop(tmp_path, f"sqlite:///{db}")

    def run_sql(sql: str) -> list[tuple]:
        conn = sqlite3.connect(db)
        try:
            with conn:
                return conn.execute(sql).fetchall()
        finally:
            conn.close()

    _story(shop, run_sql, lambda: (table_contents(db), schema_of(db)), lambda: version_of(db))

    # The Config is Flask-Migrate's: its configure callbacks ran, -x reached them.
    shop.flask("safeguard", "-x", "tenant=acme", "current")
    assert json.loads((tmp_path / "configured.json").read_text()) == {
        "x": ["tenant=acme"], "script_location": "migrations"}
    # Every command is safeguard's own: the journal and the snapshots are there.
    log = json.loads(shop.flask("safeguard", "log", "--json").stdout)
    assert [op["kind"] for op in log["operations"]][-3:] == ["upgrade", "upgrade", "upgrade"]
    snapshots = json.loads(shop.flask("safeguard", "snapshot", "list", "--json").stdout)
    # One per run: every SQLite run's undo is a snapshot, the initial one's included.
    assert len(snapshots["snapshots"]) == 3
    # A scheduled backup, reported after Flask-Migrate's env.py ran fileConfig() (which
    # disables the loggers its alembic.ini does not name).
    backup = shop.flask("safeguard", "schedule", "--once", "--every", "1h")
    assert "job adhoc: ok: snapshot" in backup.stderr
    # The store is Flask-Migrate's migrations/.safeguard: `git add migrations` (as a team
    # commits a new revision) takes no snapshot with it.
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
        added = subprocess.run(["git", "add", "-n", "migrations"], cwd=tmp_path, check=True,
                               capture_output=True, text=True).stdout
        assert "migrations/versions" in added and ".safeguard" not in added, added


@pytest.mark.postgres
def test_flask_migrate_app_on_postgresql(tmp_path, pg_server, pg_url):
    from postgres_support import database_state
    from postgres_support import version_of as pg_version_of
    from sqlalchemy.engine import make_url

    name = make_url(pg_url).database
    shop = Shop(tmp_path, pg_url)

    def run_sql(sql: str) -> list[tuple]:
        with pg_server.connect(name) as conn:
            cursor = conn.execute(sql)
            return [tuple(r) for r in cursor.fetchall()] if cursor.description else []

    _story(shop, run_sql, lambda: database_state(pg_server, name),
           lambda: pg_version_of(pg_server, name))


def test_python_api_inside_the_application_context(tmp_path):
    """`safeguard.migrate(load_settings(app))` from the application's own code."""
    db = tmp_path / "shop.db"
    shop = Shop(tmp_path, f"sqlite:///{db}")
    shop.flask("db", "init")
    shop.generate("initial")
    script = textwrap.dedent('''
        import safeguard
        from safeguard.flask import load_settings
        from shop import create_app

        app = create_app()
        with app.app_context():
            result = safeguard.migrate(load_settings(), "head", create=True)
        print(result.outcome, ",".join(result.heads))
        # Outside any application context too: the settings carry the app.
        print(safeguard.current(load_settings(app)).heads[0])
    ''')
    env = {**os.environ, "SHOP_DATABASE_URL": shop.url}
    env.pop("DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    outcome, head = out.stdout.split()[:2]
    assert outcome == "migrated" and version_of(db) == [head]


def test_refusals_are_one_line(tmp_path):
    """No repository yet: one line naming what to do, exit 2, nothing created."""
    shop = Shop(tmp_path, f"sqlite:///{tmp_path / 'shop.db'}")
    result = shop.flask("safeguard", "upgrade", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "safeguard: error: migrations/alembic.ini not found: no Flask-Migrate repository "
        "there (run `flask db init`, or pass -d/--directory)"]
    assert not (tmp_path / "shop.db").exists()
    assert not (tmp_path / "migrations").exists()


def test_safeguard_in_a_flask_migrate_project_points_to_flask_safeguard(tmp_path):
    """Issue 30 item 9: `safeguard upgrade head` beside a Flask-Migrate repository said
    only "no alembic.ini here"; the project is found, and `flask safeguard` named."""
    shop = Shop(tmp_path, f"sqlite:///{tmp_path / 'shop.db'}")
    shop.flask("db", "init")
    env = {**os.environ, "SHOP_DATABASE_URL": shop.url}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "safeguard", "upgrade", "head"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "flask safeguard upgrade" in line and "migrations" in line, line
    assert not (tmp_path / "shop.db").exists()


def test_drift_compares_with_flask_migrates_own_metadata_when_none_is_configured(tmp_path):
    """Issue 30 item 11: drift was skipped unless `metadata = shop:db.metadata` was set;
    it compares with the models Flask-Migrate's env.py itself uses (db.metadata)."""
    db = tmp_path / "shop.db"
    shop = Shop(tmp_path, f"sqlite:///{db}")
    shop.flask("db", "init")
    shop.generate("initial")
    shop.flask("safeguard", "upgrade", "--create")

    def drift() -> dict:
        report = json.loads(shop.flask("safeguard", "--json", "check", check=False).stdout)
        return {c["name"]: c for c in report["checks"]}["drift"]

    assert drift()["status"] == "passed"
    shop.models(MODELS_V2)  # the models lose a column no revision drops yet
    changed = drift()
    assert changed["status"] == "failed" and "customer.fax" in changed["detail"], changed


@pytest.mark.parametrize("failing", [False, True], ids=["passes", "fails"])
def test_rehearse_runs_on_a_copy_through_the_applications_engine(tmp_path, failing):
    """Issue 30 item 5: Flask-Migrate's env.py takes its engine from current_app, so
    the copy's URL never reached it and `flask safeguard rehearse` always refused
    (exit 3). The application's engine is pointed at the copy for the rehearsal: the
    rehearsal runs there, and the live database is untouched; `upgrade --rehearse`
    then migrates the live one (or, after a failed rehearsal, leaves it alone)."""
    db = tmp_path / "shop.db"
    shop = Shop(tmp_path, f"sqlite:///{db}")
    shop.flask("db", "init")
    initial = shop.generate("initial")
    shop.flask("safeguard", "upgrade", "--create")
    conn = sqlite3.connect(db)
    with conn:
        _seed(conn.execute)
    conn.close()
    shop.models(MODELS_V2)
    drop_fax = shop.generate("drop fax")
    head = shop.add_failing_revision(drop_fax) if failing else drop_fax
    before = (table_contents(db), schema_of(db))

    rehearsed = shop.flask("safeguard", "--json", "rehearse", check=False)
    assert rehearsed.returncode == (12 if failing else 0), rehearsed.stderr
    report = json.loads(rehearsed.stdout)
    report = report.get("result", report)
    assert [r["status"] for r in report["revisions"]] == (
        ["passed", "failed"] if failing else ["passed"])
    assert report["connections_to_copy"] > 0
    assert (table_contents(db), schema_of(db)) == before and version_of(db) == [initial]
    assert not list((tmp_path / "migrations" / ".safeguard" / "rehearsals").glob("*"))

    upgraded = shop.flask("safeguard", "upgrade", "--rehearse", check=False)
    assert upgraded.returncode == (12 if failing else 0), upgraded.stderr
    assert version_of(db) == ([initial] if failing else [head])


MULTIDB_APP = '''
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()


class Customer(db.Model):
    id = db.Column(db.Integer, primary_key=True)


class Entry(db.Model):
    __bind_key__ = "audit"
    id = db.Column(db.Integer, primary_key=True)


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///{root}/one.db"
    app.config["SQLALCHEMY_BINDS"] = {{"audit": "sqlite:///{root}/two.db"}}
    db.init_app(app)
    migrate.init_app(app, db)
    return app
'''


def test_a_multidb_repository_with_two_binds_is_refused_before_migrating_either(tmp_path):
    """Issue 30 item 10: the Flask page said the `--multidb` template was "not tested
    yet". It is refused (exit 3), naming both databases, and neither is migrated."""
    shop = Shop(tmp_path, "unused")
    (tmp_path / "shop.py").write_text(MULTIDB_APP.format(root=tmp_path))
    shop.flask("db", "init", "--multidb")
    shop.generate("initial")
    before = {name: schema_of(tmp_path / name) for name in ("one.db", "two.db")}
    for args in (("upgrade",), ("plan",)):
        result = shop.flask("safeguard", *args, check=False)
        assert result.returncode == 3, result.stderr
        (line,) = [line for line in result.stderr.splitlines() if line.startswith("safeguard:")]
        assert "several databases" in line and "one.db" in line and "two.db" in line, line
    assert {name: schema_of(tmp_path / name) for name in before} == before
    assert not list(tmp_path.glob("migrations/.safeguard/snapshots/2*"))
