"""A Flask + Flask-SQLAlchemy + Flask-Migrate application driving safeguard through
the Python API inside its app context, as a start-up hook or a management command does.

Flask-Migrate's env.py reads `current_app`, so every thread safeguard starts (the
health checks run in one each) must carry the caller's context; and its env.py
connects through the application's own engine, whose pool still holds connections to
the database file a restore has just replaced."""

from __future__ import annotations

import importlib.util
import secrets

import pytest
from sqlalchemy import text
from support.revisions import CREATE_NOTES, DROP_LEGACY, notes_of, write_revision

import safeguard
from safeguard.errors import HealthCheckFailedError

APP = '''
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()


class Note(db.Model):
    __tablename__ = "notes"
    id = db.Column(db.Integer, primary_key=True)
    body = db.Column(db.Text, nullable=False)


def create_app(url):
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db.init_app(app)
    migrate.init_app(app, db)
    return app
'''

class FlaskProject:
    """A Flask-Migrate project made by `flask db init` (flask_migrate.init), with two
    revisions: create notes (with rows), then drop a column (destructive)."""

    def __init__(self, root):
        self.root = root
        self.db = root / "app.db"
        (root / "notes_app.py").write_text(APP)
        spec = importlib.util.spec_from_file_location(f"notes_app_{secrets.token_hex(4)}",
                                                      root / "notes_app.py")
        self.module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)
        self.app = self.module.create_app(f"sqlite:///{self.db}")
        self.migrations = root / "migrations"
        with self.app.app_context():
            import flask_migrate

            flask_migrate.init(str(self.migrations))
        versions = self.migrations / "versions"
        write_revision(versions, "a1", None, CREATE_NOTES, "create notes")
        write_revision(versions, "b2", "a1", DROP_LEGACY, "drop notes.legacy")
        # So that `alembic -c migrations/alembic.ini` (and safeguard) find the scripts.
        ini = self.migrations / "alembic.ini"
        ini.write_text(ini.read_text().replace("[alembic]\n", "[alembic]\nscript_location = %(here)s\n", 1))

    def configure(self, **keys):
        ini = self.migrations / "alembic.ini"
        lines = "".join(f"{k.replace('__', '.')} = {v}\n" for k, v in keys.items())
        ini.write_text(ini.read_text() + "\n[safeguard]\n" + lines)

    def rows(self):
        return notes_of(self.db)


@pytest.fixture
def flask_project(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL")  # env.py takes its URL from the application
    project = FlaskProject(tmp_path)
    with project.app.app_context():
        import flask_migrate

        flask_migrate.upgrade(str(project.migrations), revision="a1")
    return project


# Flask-Migrate's own env.py template still calls it.
pytestmark = pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")


@pytest.mark.parametrize("timeout", [None, 120], ids=["in-process", "timeout-child"])
def test_a_destructive_upgrade_in_the_app_context_passes_its_checks(flask_project, timeout):
    settings = safeguard.load_settings(flask_project.migrations / "alembic.ini", timeout=timeout)
    with flask_project.app.app_context():
        result = safeguard.migrate(settings, "head")

    assert result.outcome == "migrated", result.error
    assert result.health.ok, result.health.summary()
    assert flask_project.rows() == [(1, "one"), (2, "two"), (3, "three")]


def test_a_rollback_in_the_app_context_restores_through_the_applications_engine(flask_project):
    flask_project.configure(sql_check__never="SELECT 0")  # a check that always fails
    before = flask_project.rows()
    settings = safeguard.load_settings(flask_project.migrations / "alembic.ini")
    with flask_project.app.app_context():
        with pytest.raises(HealthCheckFailedError) as failed:
            safeguard.migrate(settings, "head")
        # The documented step after any restore: the application's engine lets go of
        # the connections it opened to the file the restore replaced.
        flask_project.module.db.engine.dispose()
        seen = flask_project.module.db.session.execute(
            text("SELECT id, body, legacy FROM notes ORDER BY id")).fetchall()

    assert failed.value.report.outcome == "restored"
    assert flask_project.rows() == before == [tuple(row) for row in seen]
    assert safeguard.api.journal(settings)[-1].end["outcome"] == "restored"
