"""The snapshot store and git: a store is created holding a `.gitignore` of `*` (as
pytest's cache and virtualenvs are), so snapshots (copies of the database) never reach
a commit; a store inside a git work tree that git does not ignore gets a warning.

Found in the field: Flask-Migrate's default store is `migrations/.safeguard/`, and after
`flask safeguard upgrade` `git add -n migrations` listed every `database.dump`; in
Poolula, `git status` showed `?? .safeguard/`."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import SEED_AT

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(project, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project.root, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repository(project):
    """The project as a git work tree, everything but the database committed."""
    git(project, "init", "-q")
    git(project, "add", "alembic.ini", "alembic")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init")
    project.cli("-q", "upgrade", SEED_AT, "--create", "--policy", "never")
    (project.root / ".gitignore").write_text("poolula.db*\n")
    return project


def test_a_new_store_keeps_its_snapshots_out_of_git(repository):
    repository.cli("snapshot", "create")
    assert list((repository.store / "snapshots").glob("*/database.sqlite"))

    assert (repository.store / ".gitignore").read_text().splitlines()[-1] == "*"
    assert ".safeguard" not in git(repository, "status", "--porcelain", "--untracked-files=all")
    assert ".safeguard" not in git(repository, "add", "-n", "--all", ".")


def test_a_store_made_before_the_gitignore_existed_gets_one(repository):
    repository.cli("snapshot", "create")
    (repository.store / ".gitignore").unlink()  # as an older safeguard made it
    assert ".safeguard/" in git(repository, "status", "--porcelain")

    repository.cli("snapshot", "create")

    assert ".safeguard" not in git(repository, "status", "--porcelain", "--untracked-files=all")


def test_a_store_git_does_not_ignore_is_warned_about(repository):
    repository.cli("snapshot", "create")
    (repository.store / ".gitignore").write_text("# the team wants the snapshots committed\n")

    result = repository.cli("snapshot", "create")

    warning = [line for line in result.stderr.splitlines() if "git" in line]
    assert len(warning) == 1 and str(repository.store) in warning[0], result.stderr
    assert "not ignored" in warning[0] and "commit" in warning[0]
    # Ignored by the project's own .gitignore instead: nothing to say.
    (repository.root / ".gitignore").write_text("poolula.db*\n.safeguard/\n")
    assert "git" not in repository.cli("snapshot", "create").stderr


def test_a_store_outside_any_work_tree_is_not_warned_about(seeded):
    result = seeded.cli("snapshot", "create")
    assert "git" not in result.stderr
    assert (seeded.store / ".gitignore").is_file()
