"""`safeguard log`: the operations the journal holds."""

from __future__ import annotations

from ..config import Settings
from ..journal import OperationRecord
from ..workspace import Workspace


def journal(settings: Settings, *, limit: int | None = None) -> list[OperationRecord]:
    """The journal's operations, oldest first (the last ``limit`` of them)."""
    ops = Workspace(settings).journal.operations()
    return ops[-limit:] if limit else ops
