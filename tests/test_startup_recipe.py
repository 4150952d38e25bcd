"""The Python API takes the `alembic.config.Config` an application already holds: read
from a file or built in code, with `attributes["connection"]` handed to env.py (the
Alembic cookbook's shared connection). The documentation's start-up recipe is run as it is
written there, in a process of its own."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from alembic.config import Config
from conftest import REPO
from support.revisions import CREATE_NOTES, DROP_LEGACY, notes_of, write_revision

import safeguard
from safeguard.errors import HealthCheckFailedError

# The cookbook's env.py: a caller's connection when given one, its own engine otherwise.
ENV_PY = '''
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


def run_migrations_online():
    connectable = config.attributes.get("connection", None)
    if connectable is None:
        engine = engine_from_config(config.get_section(config.config_ini_section, {}),
                                    prefix="sqlalchemy.", poolclass=pool.NullPool)
        with engine.connect() as connection:
            context.configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    else:
        context.configure(connection=connectable)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
'''

def recipe() -> str:
    """The start-up recipe, as the documentation shows it."""
    page = (REPO / "docs" / "python-api.md").read_text()
    match = re.search(r"<!-- startup-recipe -->\n```python\n(.*?)```", page, re.S)
    assert match, "docs/python-api.md lost its start-up recipe"
    return match.group(1)


@pytest.fixture
def app(tmp_path, monkeypatch):
    """An application directory: alembic.ini, migrations/ with the cookbook env.py and
    two revisions (the second destructive), a database at the first."""
    monkeypatch.delenv("DATABASE_URL")
    (tmp_path / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s/migrations\n"
        f"sqlalchemy.url = sqlite:///{tmp_path / 'app.db'}\n")
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "migrations" / "env.py").write_text(ENV_PY)
    write_revision(versions, "a1", None, CREATE_NOTES, "create notes")
    write_revision(versions, "b2", "a1", DROP_LEGACY, "drop notes.legacy")
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "a1"], cwd=tmp_path,
                   check=True, capture_output=True)
    (tmp_path / "startup.py").write_text(recipe())
    return tmp_path


def test_the_readme_startup_recipe_migrates_through_the_applications_connection(app):
    url = f"sqlite:///{app / 'app.db'}"
    done = subprocess.run([sys.executable, "-c", f"import startup; startup.migrate_at_startup({url!r})"],
                          cwd=app, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "migrated b2"
    assert notes_of(app / "app.db") == [(1, "one"), (2, "two"), (3, "three")]
    # b2 is destructive: a snapshot was taken first, in the store beside alembic.ini.
    assert len(list((app / ".safeguard" / "snapshots").iterdir())) == 1


def test_a_config_built_in_code_is_used_as_it_is_and_left_as_it_was(app, monkeypatch):
    monkeypatch.chdir(app)
    config = Config()
    config.set_main_option("script_location", str(app / "migrations"))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{app / 'app.db'}")
    config.set_section_option("safeguard", "sql_check.never", "SELECT 0")  # always fails
    before = notes_of(app / "app.db")

    with pytest.raises(HealthCheckFailedError) as failed:
        safeguard.migrate(safeguard.load_settings(config, url=f"sqlite:///{app / 'app.db'}"), "head")

    assert failed.value.report.outcome == "restored"
    assert notes_of(app / "app.db") == before
    assert config.get_main_option("sqlalchemy.url") == f"sqlite:///{app / 'app.db'}"
    assert config.attributes == {}
    assert (app / ".safeguard" / "journal.jsonl").is_file()
