"""`safeguard plan`, `upgrade`, `downgrade`: the guarded migration (see guard.py)."""

from __future__ import annotations

import io

from ..config import Settings
from ..guard import Guard, GuardResult
from ..plan import Plan
from ..project import Project
from ..reporting import ProgressFactory, Reporter, silent


def plan(settings: Settings, target: str = "head", direction: str = "upgrade", *,
         create: bool = False, report: Reporter = silent) -> Plan:
    """The pending revisions, their verdicts and the snapshot decision; touches nothing."""
    guard = Guard(settings, report=report)
    result = guard.plan(target, direction, create=create)
    guard.announce(result)
    return result


def migrate(settings: Settings, target: str = "head", direction: str = "upgrade", *,
            create: bool = False, report: Reporter = silent,
            progress: ProgressFactory | None = None) -> GuardResult:
    """The guarded upgrade or downgrade (see guard.py)."""
    return Guard(settings, report=report, progress_factory=progress).migrate(
        target, direction, create=create)


def offline_sql(settings: Settings, target: str, direction: str, out: io.TextIOBase) -> None:
    """Alembic's --sql mode, passed through: prints SQL, touches no database."""
    Project(settings).offline_sql(target, direction, out)
