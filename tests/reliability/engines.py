"""The two engines as the fault tests see them: put a database at a known revision in a
project, read its whole state, and name what a crash could leave beside it.

The seeded databases are built once per session (per xdist worker) and copied for each
run: a copy takes milliseconds, seeding takes seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Protocol

from conftest import HEAD, REPO, SEED_AT, ProjectDir, seed
from postgres_support import PgProjectDir, PgServer, auxiliary_databases, database_state

from safeguard.manifest import Snapshot
from safeguard.store import SnapshotStore

from .states import sqlite_leftovers, sqlite_state


def copy_project(root: Path) -> ProjectDir:
    """A fresh copy of the example project (alembic.ini and alembic/) in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "alembic", root / "alembic", ignore=shutil.ignore_patterns("__pycache__"))
    return ProjectDir(root)


class Engine(Protocol):
    name: str
    env: dict[str, str]  # for the CLI run as a process

    def place(self, project: ProjectDir, revision: str) -> ProjectDir:
        """The project pointed at a fresh database holding the seeded rows at ``revision``
        (SEED_AT or HEAD)."""

    def replace(self, project: ProjectDir, revision: str) -> None:
        """Swap the project's database for the seeded one at ``revision``, same name."""

    def state(self, project: ProjectDir) -> dict[str, Any]:
        """Everything the database holds: rows of every table, and the schema."""

    def leftovers(self, project: ProjectDir) -> list[str]:
        """What a restore made beside the database and did not clean up."""

    def discard(self, project: ProjectDir) -> None:
        """Drop the database (and its auxiliaries) after the test."""


class SQLite:
    """SQLite files, copied from two seeded templates."""

    name = "sqlite"
    env: dict[str, str] = {}

    def __init__(self, workdir: Path) -> None:
        template = copy_project(workdir / "template")
        template.cli("upgrade", SEED_AT, "--create", "--policy", "never")
        seed(template)
        self.templates = {SEED_AT: workdir / "seeded.db", HEAD: workdir / "head.db"}
        shutil.copy(template.db, self.templates[SEED_AT])
        template.cli("upgrade", "head", "--policy", "never")
        shutil.copy(template.db, self.templates[HEAD])

    def place(self, project: ProjectDir, revision: str) -> ProjectDir:
        self.replace(project, revision)
        return project

    def replace(self, project: ProjectDir, revision: str) -> None:
        for side in ("-wal", "-shm", "-journal"):
            project.db.with_name(project.db.name + side).unlink(missing_ok=True)
        shutil.copy(self.templates[revision], project.db)

    def state(self, project: ProjectDir) -> dict[str, Any]:
        return sqlite_state(project)

    def leftovers(self, project: ProjectDir) -> list[str]:
        return sqlite_leftovers(project)

    def discard(self, project: ProjectDir) -> None:
        """The file goes with the test's temporary directory."""


class PostgreSQL:
    """Databases on the test server, copied from the session's seeded templates."""

    name = "postgres"

    def __init__(self, server: PgServer, templates: dict[str, str]) -> None:
        self.server = server
        self.templates = templates
        self.env = {"SAFEGUARD_PG_BINDIR": server.bindir} if server.bindir else {}

    def place(self, project: ProjectDir, revision: str) -> PgProjectDir:
        name = self.server.create_database(template=self.templates[revision])
        return PgProjectDir(project.root, self.server.url_for(name))

    def replace(self, project: PgProjectDir, revision: str) -> None:
        with self.server.connect() as conn:
            conn.execute(f'DROP DATABASE "{project.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{project.database}" TEMPLATE "{self.templates[revision]}"')

    def state(self, project: PgProjectDir) -> dict[str, Any]:
        return database_state(self.server, project.database)

    def leftovers(self, project: PgProjectDir) -> list[str]:
        """Auxiliary databases no snapshot keeps, and kept-database snapshots whose
        database is gone (a manifest pointing at nothing)."""
        kept = {s.id: s.extra["kept_database"] for s in kept_snapshots(project)}
        found = auxiliary_databases(self.server, project.database)
        return ([name for name in found if name not in kept.values()]
                + [f"snapshot {id_} names {name}, which is gone"
                   for id_, name in kept.items() if name not in found])

    def discard(self, project: PgProjectDir) -> None:
        self.server.drop_database(project.database)


def kept_snapshots(project: ProjectDir) -> list[Snapshot]:
    """The snapshots in the project's store whose payload is a kept database."""
    if not (project.store / "snapshots").is_dir():
        return []
    return [s for s in SnapshotStore(project.store).list() if s.payload_kind == "kept database"]
