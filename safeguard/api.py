"""The public Python API: the user's verbs, one function per command (as Alembic's
`command.py`), each taking `Settings` and returning a result object.

This module only re-exports: each verb lives in its own module of `operations/`.
Nothing inside safeguard imports this module; the CLI, the pytest plugin and scripts
do.
"""

from __future__ import annotations

from .inventory import Listing, Located
from .operations.beside import BesideRestore, drop_beside, restore_beside
from .operations.check import check
from .operations.diff import Diff, Discards, diff, what_restore_discards
from .operations.history import current, heads, history
from .operations.lint import lint, new_revision
from .operations.log import journal
from .operations.migrate import migrate, offline_sql, plan
from .operations.prune import prune
from .operations.recover import Recovered, recover
from .operations.rehearse import Rehearsal, RehearsedUpgrade, rehearse, rehearse_then_migrate
from .operations.restore import ManualRestore, restore
from .operations.schedule import run_jobs_once, schedule_jobs, schedule_status, serve_schedule
from .operations.settings import effective_config
from .operations.snapshot import create_snapshot, list_snapshots, locate_snapshots, show_snapshot
from .operations.stamp import stamp
from .operations.verify import VerifyResult, verify_snapshot
from .reporting import ProgressFactory, Reporter

__all__ = [
    "BesideRestore", "Diff", "Discards",
    "Listing", "Located", "ManualRestore", "ProgressFactory", "Recovered", "Rehearsal", "RehearsedUpgrade",
    "Reporter", "VerifyResult",
    "check", "create_snapshot",
    "diff", "drop_beside", "restore_beside", "what_restore_discards", "current", "effective_config", "heads", "history",
    "journal", "lint", "list_snapshots", "locate_snapshots", "migrate", "new_revision", "offline_sql", "plan",
    "prune", "recover", "rehearse", "rehearse_then_migrate", "restore", "run_jobs_once",
    "schedule_jobs", "schedule_status", "serve_schedule", "show_snapshot", "stamp", "verify_snapshot",
]
