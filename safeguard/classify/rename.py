"""Probable renames: autogenerate writes a renamed column as drop + add.

Autogenerate cannot tell a rename from a new column replacing an old one, so it
emits ``drop_column(t, old)`` and ``add_column(t, Column(new, TYPE))``, and the old
column's data is lost. When one revision does exactly that with matching types, a
BC102 finding says so and shows the ``alter_column`` that keeps the data.

``drop_column`` carries no type; the dropped column's type comes from the opposite
direction, where autogenerate re-adds it (``add_column(t, Column(old, TYPE))``).
Without that the types cannot be compared and nothing is reported: hand-written
drop+add pairs are usually deliberate (copy, convert, swap), not renames.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import effects as fx
from .effects import Effect
from .recorder import ColumnEvent


def probable_renames(events: Iterable[ColumnEvent], opposite_events: Iterable[ColumnEvent]) -> list[tuple[Effect, int]]:
    """BC102 effects (with the drop's line) for drop+add pairs that look like renames."""
    events = list(events)
    restored = {(e.table.lower(), e.column.lower()): e.type_key for e in opposite_events if e.action == "add"}
    found: list[tuple[Effect, int]] = []
    for table in sorted({e.table.lower() for e in events}):
        drops = [e for e in events if e.action == "drop" and e.table.lower() == table]
        adds = [e for e in events if e.action == "add" and e.table.lower() == table]
        dropped_names = {d.column.lower() for d in drops}
        adds = [a for a in adds if a.column.lower() not in dropped_names]  # re-adding is no rename
        for drop in drops:
            match = _partner(drop, adds, restored.get((table, drop.column.lower())))
            if match is not None:
                adds.remove(match)
                found.append((fx.probable_rename(drop.table, drop.column, match.column), drop.line))
    return found


def _partner(drop: ColumnEvent, adds: list[ColumnEvent], dropped_type: str | None) -> ColumnEvent | None:
    """The one added column of the dropped column's type, if exactly one."""
    if dropped_type is None:
        return None
    same = [a for a in adds if a.type_key == dropped_type]
    return same[0] if len(same) == 1 else None
