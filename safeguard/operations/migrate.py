"""`safeguard plan`, `upgrade`, `downgrade`: the guarded migration (see guard.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import TextIO

from .. import preconditions
from ..config import Settings
from ..guard import Guard, GuardResult
from ..plan import Plan
from ..project import Project
from ..reporting import ProgressFactory, Reporter, silent
from ..revisions import Direction


def plan(settings: Settings, target: str = "head", direction: Direction = "upgrade", *,
         create: bool = False, report: Reporter = silent) -> Plan:
    """The pending revisions, their verdicts, the snapshot decision, and what that
    undo needs, checked now (``plan.preconditions``: preconditions.py); touches nothing."""
    guard = Guard(settings, report=report)
    result = guard.plan(target, direction, create=create)
    guard.announce(result)
    checked = preconditions.of_plan(guard.ws, guard.ws.backend(result.database), result)
    return replace(result, preconditions=checked)


def migrate(settings: Settings, target: str = "head", direction: Direction = "upgrade", *,
            create: bool = False, report: Reporter = silent,
            progress: ProgressFactory | None = None) -> GuardResult:
    """The guarded upgrade or downgrade (see guard.py)."""
    return Guard(settings, report=report, progress_factory=progress).migrate(
        target, direction, create=create)


def offline_sql(settings: Settings, target: str, direction: Direction, out: TextIO) -> None:
    """Alembic's --sql mode, passed through: prints SQL, touches no database."""
    Project(settings).offline_sql(target, direction, out)
