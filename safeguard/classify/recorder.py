"""Collects findings line by line while a revision is analysed."""

from __future__ import annotations

from dataclasses import dataclass

from .codes import UNANALYSABLE
from .effects import UNANALYSABLE_PREFIX, Effect
from .result import Finding
from .state import SchemaState


class FindingSet:
    """Findings keyed by (code, line, resolution): one finding per code per line.

    A second effect with the same code on the same line (a loop over several
    tables, or the rendered SQL repeating what the AST already said) is merged
    into the first one's message instead of being listed twice. A resolved effect
    is never merged into one that counts (nor the other way round): what a
    declaration covers stays apart from what it does not.
    """

    def __init__(self) -> None:
        self._messages: dict[tuple[str, int, str], list[str]] = {}

    def add(self, code: str, message: str, line: int, resolution: str | None = None) -> None:
        """Add a finding, merging it with an existing one for the same code, line and
        resolution."""
        messages = self._messages.setdefault((code, line, resolution or ""), [])
        if message not in messages:
            messages.append(message)

    def codes(self) -> set[str]:
        """The distinct codes found so far (resolved ones included)."""
        return {code for code, _, _ in self._messages}

    def findings(self) -> tuple[Finding, ...]:
        """The findings in line order."""
        ordered = sorted(self._messages.items(), key=lambda item: (item[0][1], item[0][0], item[0][2]))
        return tuple(Finding(code, _merged(code, msgs), line, resolution or None)
                     for (code, line, resolution), msgs in ordered)


def _merged(code: str, messages: list[str]) -> str:
    if code == UNANALYSABLE and len(messages) > 1:
        # One "cannot be analysed statically:" heading for all the reasons.
        reasons = [m.removeprefix(UNANALYSABLE_PREFIX) for m in messages]
        return UNANALYSABLE_PREFIX + "; ".join(reasons)
    return "; ".join(messages)


@dataclass(frozen=True)
class ColumnEvent:
    """A column added or dropped through ``op``/``batch_op`` (for the rename rule)."""

    action: str  # "add" or "drop"
    table: str
    column: str
    type_key: str | None
    line: int


@dataclass(frozen=True)
class EnumEvent:
    """An enum type's values set or extended by a plugin operation (for the
    removed-value rule of plugins/postgresql_enum.py)."""

    action: str  # "sync" (the full list of values) or "add" (one more value)
    #: The type as shown in messages, ``schema.name``.
    enum: str
    #: The values after the operation (sync) or the value added (add); None when unreadable.
    values: tuple[str, ...] | None
    #: Values renamed away by the operation (their rows keep a value under a new name).
    renamed_from: tuple[str, ...]
    #: The columns it converts, as shown in messages; None when not readable.
    columns: str | None
    line: int


class Recorder:
    """Where the static analysis puts what it recognises.

    ``muted`` recorders keep schema state and column events but no findings: the
    module body and the opposite direction's function are walked that way, for the
    facts they establish rather than for their effects.
    """

    def __init__(self, *, muted: bool = False) -> None:
        self.muted = muted
        self.found = FindingSet()
        self.schema = SchemaState()
        self.column_events: list[ColumnEvent] = []
        self.enum_events: list[EnumEvent] = []

    def add(self, effect: Effect, line: int) -> None:
        """Record ``effect`` at ``line`` unless muted."""
        if not self.muted:
            self.found.add(effect.code, effect.message, line, effect.resolution)

    def column_event(self, event: ColumnEvent) -> None:
        """Record a column added or dropped."""
        self.column_events.append(event)
