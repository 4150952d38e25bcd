"""Alembic's read commands, passed through: `current`, `heads`, `history`."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..project import Project
from ..revisions import DatabaseState
from ..workspace import Workspace


def current(settings: Settings) -> DatabaseState:
    """The database env.py connects to and its revision(s)."""
    return Workspace(settings).database()


def heads(settings: Settings) -> tuple[str, ...]:
    """The scripts' head revision(s)."""
    return Project(settings).heads()


def history(settings: Settings, rev_range: str | None = None) -> list[dict[str, Any]]:
    """The revisions, newest first, as Alembic's `history` walks them."""
    base, _, head = (rev_range or ":").partition(":")
    scripts = Project(settings).history(base or "base", head or "heads")
    return [
        {
            "revision": s.revision,
            "down_revisions": list(s._versioned_down_revisions),
            "doc": (s.doc or "").strip(),
            "is_head": s.is_head,
            "path": s.path,
        }
        for s in scripts
    ]
