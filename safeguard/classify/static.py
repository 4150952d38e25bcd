"""The static analysis of one revision: AST walk, plus the rules that compare it with
the opposite direction (autogenerate's drop+add renames, enum values removed)."""

from __future__ import annotations

import ast

from .declared import Declaration
from .dialects import sqlglot_name
from .interpreter import Interpreter
from .plugins.postgresql_enum import removed_values
from .recorder import FindingSet, Recorder
from .rename import probable_renames

_OPPOSITE = {"upgrade": "downgrade", "downgrade": "upgrade"}


def analyse(tree: ast.Module, direction: str, dialect: str | None,
            declarations: tuple[Declaration, ...] = ()) -> FindingSet:
    """Findings for ``direction`` (``upgrade``/``downgrade``) of the parsed revision.

    A module without that function yields no findings (Alembic would refuse to
    run it anyway, so there is no data to protect). ``declarations`` are the
    project's declared helpers (declared.py).
    """
    recorder = Recorder()
    Interpreter(tree, recorder, dialect, sqlglot_name(dialect), declarations).analyse(direction)
    found = recorder.found
    renames = _has_drop_and_add(recorder)
    enums = any(e.action == "sync" for e in recorder.enum_events)
    if renames or enums:
        # What the opposite direction restores is what this one had before it.
        opposite = Recorder(muted=True)
        Interpreter(tree, opposite, dialect, sqlglot_name(dialect)).analyse(_OPPOSITE[direction])
        pairs = probable_renames(recorder.column_events, opposite.column_events) if renames else []
        if enums:
            pairs += removed_values(recorder.enum_events, opposite.enum_events)
        for effect, line in pairs:
            found.add(effect.code, effect.message, line)
    return found


def _has_drop_and_add(recorder: Recorder) -> bool:
    actions = {(e.action, e.table.lower()) for e in recorder.column_events}
    return any(("add", table) in actions for action, table in actions if action == "drop")
