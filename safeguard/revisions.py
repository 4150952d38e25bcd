"""Revisions as safeguard passes them between layers: the state of a database (where
env.py connected, the revision(s) stamped there), one step of a run, and the way
people read a list of revisions. Plain values; nothing here runs Alembic."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Sequence

from sqlalchemy.engine import URL

from .credentials import public_url
from .undo import EnvTransaction

Direction = Literal["upgrade", "downgrade"]
"""Which way a run goes."""


@dataclass(frozen=True)
class DatabaseState:
    """What env.py connected to, and the revision(s) stamped there."""

    url: URL
    heads: tuple[str, ...]
    #: How env.py wraps a run in a transaction (read from its MigrationContext).
    transaction: EnvTransaction | None = None

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def display_url(self) -> str:
        """The URL with any password hidden: the only form safeguard ever prints."""
        return public_url(self.url)

    @property
    def empty_file(self) -> bool:
        """A SQLite file of zero bytes (and no WAL): what connecting to a path that did
        not exist leaves behind, so a wrong path rather than a database."""
        path = self.url.database if self.dialect == "sqlite" else None
        if not path or path == ":memory:" or path.startswith("file:"):
            return False
        return all(not os.path.exists(p) or os.path.getsize(p) == 0 for p in (path, path + "-wal"))


@dataclass(frozen=True)
class Step:
    """One revision to apply, in one direction."""

    revision: str
    down_revision: str | tuple[str, ...] | None
    direction: Direction
    doc: str
    path: str

    @property
    def arrow(self) -> str:
        """`a -> b` as Alembic prints it."""
        down = format_revs(self.down_revision)
        if self.direction == "upgrade":
            return f"{down} -> {self.revision}"
        return f"{self.revision} -> {down}"


def format_revs(revs: str | Sequence[str] | None) -> str:
    """Revisions as people read them: comma-separated, 'base' for none."""
    if not revs:
        return "base"
    if isinstance(revs, str):
        return revs
    return ", ".join(revs)
