"""Keeping the snapshot store out of version control.

A store usually lives inside the project (`.safeguard/` beside alembic.ini; Flask-Migrate
projects get `migrations/.safeguard/`), so inside a git work tree, and its snapshots are
copies of the database: one `git add .` puts every row in the repository's history.
So a store holds a `.gitignore` of `*`, as pytest's cache and virtualenvs do: the
directory ignores itself wherever it is, with no edit to the project's own files.

It is written when missing (a new store, or one made before this file existed). A store
whose `.gitignore` someone changed is left as it is, and if it is inside a git work tree
that does not ignore it, each command says so once (a warning, not a refusal: the team
may have decided). Whether git ignores it is asked of git itself (`check-ignore
--no-index`, which reads no index and runs no hook) only then; without git, a changed
file inside a work tree is warned about.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from .durable import FILE_MODE

log = logging.getLogger(__name__)

GITIGNORE = ".gitignore"
CONTENT = ("# Created by safeguard: this snapshot store holds copies of the database,\n"
           "# which must never be committed.\n*\n")


def keep_out_of_git(root: Path) -> None:
    """Give the store ``root`` its `.gitignore` if it has none; warn if it is in a git
    work tree that does not ignore it. Never fails the command it runs in."""
    path = root / GITIGNORE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        if _ignores_everything(path):
            return
    except OSError as exc:  # a read-only store: whatever else it refuses is said elsewhere
        log.debug("cannot write %s: %s", path, exc)
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(CONTENT)
        return
    tree = _work_tree(root)
    if tree is not None and not _git_ignores(root, tree):
        log.warning("the snapshot store %s is inside the git work tree %s and is not ignored: "
                    "its snapshots (copies of the database) could be committed; put `*` in "
                    "%s or add the store to the project's .gitignore", root, tree, path)


def _ignores_everything(path: Path) -> bool:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return "*" in rules and not any(rule.startswith("!") for rule in rules)


def _work_tree(root: Path) -> Path | None:
    """The git work tree holding ``root`` (the nearest parent with a `.git`), if any."""
    for directory in (root.resolve(), *root.resolve().parents):
        if (directory / ".git").exists():
            return directory
    return None


def _git_ignores(root: Path, tree: Path) -> bool:
    """Whether git ignores the store's snapshots (False when git cannot say)."""
    git = shutil.which("git")
    if git is None:
        return False
    probe = root.resolve() / "snapshots" / "x"
    try:
        done = subprocess.run([git, "-C", str(tree), "check-ignore", "-q", "--no-index", str(probe)],
                              capture_output=True, timeout=10,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0
