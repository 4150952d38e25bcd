"""The schedule's health, read without changing it: whether a scheduler runs, each
job's next run (from the job store) and last outcome (from the journal)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import ownership
from ..config import Settings
from ..errors import LockBusyError
from ..journal import Journal
from ..lock import database_lock, lock_path
from .jobs import Job
from .jobtimes import StoredJob, read
from .run import _iso, last_runs
from .scheduler import JOB_STORE, SCHEDULER_LOCK, _holder

log = logging.getLogger("safeguard.schedule")


# -- health of the schedule ------------------------------------------------------------

@dataclass(frozen=True)
class JobStatus:
    """One job as `schedule --status` shows it."""

    name: str
    spec: str
    next_run: str | None
    last: dict[str, Any] | None
    configured: bool = True
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScheduleStatus:
    """Whether a scheduler runs, and each job's last outcome and next run."""

    running: bool
    pid: int | None
    since: str | None
    job_store: str
    jobs: tuple[JobStatus, ...]
    #: The remote store, when one is set: its URL and its last successful upload
    #: (``{ts, snapshot, location}`` from the journal) and last failed one.
    remote: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"running": self.running, "pid": self.pid, "since": self.since,
                "job_store": self.job_store, "jobs": [j.to_dict() for j in self.jobs],
                "remote": self.remote}


def status(settings: Settings, jobs: Sequence[Job]) -> ScheduleStatus:
    """Read the schedule's health without changing it: the scheduler lock, the job
    store's next run times and the journal's last outcomes."""
    root = settings.store_dir
    ownership.check_private(root)
    running, holder = _running(root)
    stored: dict[str, StoredJob] = read(root / JOB_STORE)
    last = last_runs(settings)
    rows = []
    for job in jobs:
        kept = stored.pop(job.name, None)
        next_run, note = None, None
        if not job.scheduled:
            note = "on demand"
        elif kept is None:
            note = "not scheduled yet: starts with `safeguard schedule`"
        elif tuple(kept.args[1:]) != (job.name, job.spec):
            note = "changed since the scheduler stored it: rescheduled at its next start"
        else:
            next_run = _iso(kept.next_run_time)
        rows.append(JobStatus(job.name, job.spec, next_run, last.get(job.name), True, note))
    for name, kept in sorted(stored.items()):
        rows.append(JobStatus(name, kept.args[2] if len(kept.args) > 2 else "?",
                              _iso(kept.next_run_time), last.get(name), False,
                              "no longer configured: removed at the scheduler's next start"))
    return ScheduleStatus(running, holder.get("pid") if running else None,
                          holder.get("since") if running else None, str(root / JOB_STORE),
                          tuple(rows), _remote(settings))


def _remote(settings: Settings) -> dict[str, Any] | None:
    """The remote's last successful and last failed upload, as the journal noted them."""
    if not settings.remote:
        return None
    last: dict[bool, dict[str, Any] | None] = {True: None, False: None}
    for entry in Journal(settings.store_dir).entries():
        if entry.get("kind") == "upload" and entry.get("event") == "note":
            last[bool(entry.get("ok"))] = {k: entry.get(k) for k in ("ts", "snapshot", "location", "error")
                                           if entry.get(k) is not None}
    return {"url": settings.remote, "last_success": last[True], "last_failure": last[False]}


def _running(root: Path) -> tuple[bool, dict[str, Any]]:
    """Whether a scheduler holds the store's scheduler lock (and who)."""
    if not lock_path(root, SCHEDULER_LOCK).is_file():
        return False, {}
    try:
        with database_lock(root, SCHEDULER_LOCK, timeout=0, purpose="schedule --status"):
            return False, {}
    except LockBusyError:
        return True, _holder(root) or {}

