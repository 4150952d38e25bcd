"""docs/remote.md's two recipes, run as they are written there, in a shell: the deploy
entrypoint migrates the database with its snapshot uploaded to the S3 server over real
HTTP; then on a "new machine" (another checkout at another path, no local store, and
for SQLite no database file at all) the restore recipe brings the pre-migration state
back from the remote, table by table. On PostgreSQL and on SQLite."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import HEAD, REPO, SEED_AT, table_contents
from conftest import version_of as sqlite_version_of
from postgres_support import database_state, version_of
from s3_support import S3Remote


def recipe(name: str) -> str:
    page = (REPO / "docs" / "remote.md").read_text()
    match = re.search(rf"<!-- {name} -->\n```sh\n(.*?)```", page, re.S)
    assert match, f"docs/remote.md lost its {name}"
    return match.group(1)


def run(recipe_text: str, cwd, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", recipe_text, "recipe", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def new_machine(checkout, tmp_path):
    """A fresh checkout of the project at another path: no store, no database file."""
    fresh = tmp_path / "new-machine" / "checkout"
    fresh.mkdir(parents=True)
    shutil.copy(checkout / "alembic.ini", fresh / "alembic.ini")
    shutil.copytree(checkout / "alembic", fresh / "alembic",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return fresh


def remote_env(remote: S3Remote, database_url: str) -> dict[str, str]:
    """The deploy job's environment: the database, the remote, credentials (those are
    in this process's environment already: s3_credentials)."""
    return {**os.environ, "DATABASE_URL": database_url, "SAFEGUARD_REMOTE": remote.url,
            "SAFEGUARD_REMOTE_ENDPOINT": remote.endpoint, "SAFEGUARD_REMOTE_REGION": "us-east-1",
            "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_the_recipes_on_sqlite_restore_onto_a_new_machine_with_no_database_file(
        seeded, s3_server, s3_credentials, tmp_path):
    import secrets

    remote = S3Remote(s3_server, f"sg-recipe-{secrets.token_hex(4)}").create_bucket()
    env = remote_env(remote, "sqlite:///./poolula.db")  # as the app's own default, relative
    before = table_contents(seeded.db)

    deploy = run(recipe("deploy-recipe"), seeded.root, env, "echo", "application started")

    assert deploy.returncode == 0, deploy.stderr
    assert sqlite_version_of(seeded.db) == [HEAD]
    fresh = new_machine(seeded.root, tmp_path)
    restored = run(recipe("new-machine-recipe"), fresh, env)

    assert restored.returncode == 0, restored.stderr
    assert re.search(r"\bremote\b", restored.stdout), restored.stdout
    after = table_contents(fresh / "poolula.db")
    for table, rows in before.items():
        assert after.get(table) == rows, table
    assert sqlite_version_of(fresh / "poolula.db") == [SEED_AT]
    assert restored.stdout.strip().splitlines()[-1] == SEED_AT  # `safeguard current`


@pytest.mark.postgres
def test_the_deploy_and_new_machine_recipes(pg_seeded, pg_server, s3_server, s3_credentials, tmp_path):
    import secrets

    remote = S3Remote(s3_server, f"sg-recipe-{secrets.token_hex(4)}").create_bucket()
    env = remote_env(remote, pg_seeded.url)
    before = database_state(pg_server, pg_seeded.database)
    seed_revision = version_of(pg_server, pg_seeded.database)

    deploy = run(recipe("deploy-recipe"), pg_seeded.root, env, "echo", "application started")

    assert deploy.returncode == 0, deploy.stderr
    assert deploy.stdout.strip().splitlines()[-1] == "application started"
    assert version_of(pg_server, pg_seeded.database) == [HEAD]
    assert re.search(r"\bboth\b", deploy.stdout), deploy.stdout  # snapshot list: local and remote

    # The new machine: a fresh checkout of the project at another path, no .safeguard.
    fresh = new_machine(pg_seeded.root, tmp_path)
    restored = run(recipe("new-machine-recipe"), fresh, env)

    assert restored.returncode == 0, restored.stderr
    assert re.search(r"\bremote\b", restored.stdout), restored.stdout
    after = database_state(pg_server, pg_seeded.database)
    for table, rows in before["contents"].items():
        assert after["contents"].get(table) == rows, table
    assert version_of(pg_server, pg_seeded.database) == seed_revision
