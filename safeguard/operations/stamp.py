"""`safeguard stamp`: set alembic_version without migrating, under the lock and in the
journal."""

from __future__ import annotations

from typing import Sequence

from ..config import Settings
from ..revisions import DatabaseState, format_revs
from ..reporting import Reporter, silent
from ..workspace import Workspace


def stamp(settings: Settings, revisions: Sequence[str], *, report: Reporter = silent) -> DatabaseState:
    """Set alembic_version without migrating, under the lock and in the journal."""
    ws = Workspace(settings)
    state = ws.database()
    backend = ws.backend(state)
    for rev in revisions:
        if rev not in ("base", "heads"):
            # Refuse unknown or ambiguous revisions (and 'head' of several) before the
            # journal and the lock: nothing may change for a bad argument.
            ws.project.revision(rev)
    with ws.operation("stamp", backend) as held:
        op = held.begin(heads=list(state.heads), target=list(revisions))
        with op.step("stamp"):
            ws.project.stamp(list(revisions))
        after = ws.database()
        op.finish("stamped", heads=list(after.heads))
    report(f"Stamped: {format_revs(after.heads)} (was {format_revs(state.heads)})")
    return after
