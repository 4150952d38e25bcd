"""The static analysis of one revision: AST walk plus the rename rule."""

from __future__ import annotations

import ast

from .dialects import sqlglot_name
from .interpreter import Interpreter
from .recorder import FindingSet, Recorder
from .rename import probable_renames

_OPPOSITE = {"upgrade": "downgrade", "downgrade": "upgrade"}


def analyse(tree: ast.Module, direction: str, dialect: str | None) -> FindingSet:
    """Findings for ``direction`` (``upgrade``/``downgrade``) of the parsed revision.

    A module without that function yields no findings (Alembic would refuse to
    run it anyway, so there is no data to protect).
    """
    recorder = Recorder()
    Interpreter(tree, recorder, dialect, sqlglot_name(dialect)).analyse(direction)
    found = recorder.found
    if _has_drop_and_add(recorder):
        opposite = Recorder(muted=True)
        Interpreter(tree, opposite, dialect, sqlglot_name(dialect)).analyse(_OPPOSITE[direction])
        for effect, line in probable_renames(recorder.column_events, opposite.column_events):
            found.add(effect.code, effect.message, line)
    return found


def _has_drop_and_add(recorder: Recorder) -> bool:
    actions = {(e.action, e.table.lower()) for e in recorder.column_events}
    return any(("add", table) in actions for action, table in actions if action == "drop")
