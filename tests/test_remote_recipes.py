"""docs/remote.md's two recipes, run as they are written there, in a shell: the deploy
entrypoint migrates a PostgreSQL database with its snapshot uploaded to the S3 server
over real HTTP; then on a "new machine" (another checkout, no local store) the restore
recipe brings the pre-migration state back from the remote, table by table."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import HEAD, REPO
from postgres_support import database_state, version_of
from s3_support import S3Remote

pytestmark = pytest.mark.postgres


def recipe(name: str) -> str:
    page = (REPO / "docs" / "remote.md").read_text()
    match = re.search(rf"<!-- {name} -->\n```sh\n(.*?)```", page, re.S)
    assert match, f"docs/remote.md lost its {name}"
    return match.group(1)


def run(recipe_text: str, cwd, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", recipe_text, "recipe", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_deploy_and_new_machine_recipes(pg_seeded, pg_server, s3_server, s3_credentials, tmp_path):
    import secrets

    remote = S3Remote(s3_server, f"sg-recipe-{secrets.token_hex(4)}").create_bucket()
    env = {**os.environ, "DATABASE_URL": pg_seeded.url, "SAFEGUARD_REMOTE": remote.url,
           "SAFEGUARD_REMOTE_ENDPOINT": remote.endpoint, "SAFEGUARD_REMOTE_REGION": "us-east-1",
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    before = database_state(pg_server, pg_seeded.database)
    seed_revision = version_of(pg_server, pg_seeded.database)

    deploy = run(recipe("deploy-recipe"), pg_seeded.root, env, "echo", "application started")

    assert deploy.returncode == 0, deploy.stderr
    assert deploy.stdout.strip().splitlines()[-1] == "application started"
    assert version_of(pg_server, pg_seeded.database) == [HEAD]
    assert re.search(r"\bboth\b", deploy.stdout), deploy.stdout  # snapshot list: local and remote

    # The new machine: a fresh checkout of the project, no .safeguard at all.
    fresh = tmp_path / "new-machine"
    fresh.mkdir()
    shutil.copy(pg_seeded.ini, fresh / "alembic.ini")
    shutil.copytree(pg_seeded.root / "alembic", fresh / "alembic")
    restored = run(recipe("new-machine-recipe"), fresh, env)

    assert restored.returncode == 0, restored.stderr
    assert re.search(r"\bremote\b", restored.stdout), restored.stdout
    after = database_state(pg_server, pg_seeded.database)
    for table, rows in before["contents"].items():
        assert after["contents"].get(table) == rows, table
    assert version_of(pg_server, pg_seeded.database) == seed_revision
