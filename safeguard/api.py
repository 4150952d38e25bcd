"""The user's verbs, one function per command (as Alembic's `command.py`).

Each takes `Settings` and returns a result object; the CLI only parses and prints.
"""

from __future__ import annotations

import io
from typing import Any, Callable, Sequence

from .backends import backend_for
from .config import Settings
from .guard import Guard, GuardResult, Reporter
from .journal import Journal
from .lock import database_lock
from .plan import Plan
from .project import DatabaseState, Project
from .store import Snapshot, SnapshotStore


def _ignore(_: str) -> None:
    pass


def plan(settings: Settings, target: str = "head", direction: str = "upgrade", *,
         create: bool = False, report: Reporter = _ignore) -> Plan:
    """The pending revisions, their verdicts and the snapshot decision; touches nothing."""
    guard = Guard(settings, report=report)
    result = guard.plan(target, direction, create=create)
    guard._announce(result)
    return result


def migrate(settings: Settings, target: str = "head", direction: str = "upgrade", *,
            create: bool = False, report: Reporter = _ignore,
            progress: Callable[[str, int], Any] | None = None) -> GuardResult:
    """The guarded upgrade or downgrade (see guard.py)."""
    return Guard(settings, report=report, progress_factory=progress).migrate(
        target, direction, create=create)


def offline_sql(settings: Settings, target: str, direction: str, out: io.TextIOBase) -> None:
    """Alembic's --sql mode, passed through: prints SQL, touches no database."""
    Project(settings).offline_sql(target, direction, out)


def list_snapshots(settings: Settings) -> list[Snapshot]:
    """Every snapshot in the store, oldest first."""
    return SnapshotStore(settings.store_dir).list()


def current(settings: Settings) -> DatabaseState:
    """The database env.py connects to and its revision(s)."""
    return Project(settings).database()


def heads(settings: Settings) -> tuple[str, ...]:
    """The scripts' head revision(s)."""
    return Project(settings).heads()


def history(settings: Settings, rev_range: str | None = None) -> list[dict[str, Any]]:
    """The revisions, newest first, as Alembic's `history` walks them."""
    project = Project(settings)
    base, _, head = (rev_range or ":").partition(":")
    scripts = project.script.walk_revisions(base=base or "base", head=head or "heads")
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


def stamp(settings: Settings, revisions: Sequence[str], *, report: Reporter = _ignore) -> DatabaseState:
    """Set alembic_version without migrating, under the lock and in the journal."""
    guard = Guard(settings, report=report)
    state = guard.project.database()
    backend = backend_for(state.url, settings)
    guard.store.ensure_writable()
    guard.refuse_unfinished(backend.identity())
    for rev in revisions:
        if rev not in ("base", "head", "heads"):
            guard.project.revision(rev)  # refuse unknown revisions before touching anything
    with database_lock(guard.store.root, backend.identity(),
                       timeout=settings.lock_timeout, purpose="stamp"):
        op = Journal(guard.store.root).begin("stamp", database=backend.identity(),
                                             heads=list(state.heads), target=list(revisions))
        with op.step("stamp"):
            guard.project.stamp(list(revisions))
        after = guard.project.database()
        op.finish("stamped", heads=list(after.heads))
    report(f"Stamped: {', '.join(after.heads) or 'base'} (was {', '.join(state.heads) or 'base'})")
    return after
