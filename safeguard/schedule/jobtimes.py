"""The scheduler's memory between restarts: each configured job's next run time, as JSON.

APScheduler's persistent job stores pickle each job, and unpickling a file is running
its code: a job store in the snapshot store would be code that whoever could write
there makes the user run (even `schedule --status` read it). Nothing about a job needs
storing but its next run time: the job itself (its trigger and arguments) is rebuilt
from the configuration at every start. So the scheduler keeps its jobs in memory
(APScheduler's ``MemoryJobStore``) and this store writes, after each change, one small
JSON file of what a restart needs:

    {"nightly": {"args": ["<config path>", "nightly", "cron 0 3 * * *"],
                 "next_run_time": "2026-11-30T03:00:00+00:00"}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore

from ..durable import write_json
from ..errors import SafeguardError


@dataclass(frozen=True)
class StoredJob:
    """What a restart reads back of one job."""

    id: str
    args: tuple[str, ...]
    next_run_time: datetime | None


class RunTimes(MemoryJobStore):
    """Jobs in memory; their next run times also in ``path`` (none without one)."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.path = path
        #: What the file held when the scheduler started.
        self.previous: dict[str, StoredJob] = read(path) if path else {}

    def add_job(self, job: Job) -> None:
        super().add_job(job)
        self._save()

    def update_job(self, job: Job) -> None:
        super().update_job(job)
        self._save()

    def remove_job(self, job_id: str) -> None:
        super().remove_job(job_id)
        self._save()

    def remove_all_jobs(self) -> None:
        super().remove_all_jobs()
        self._save()

    def shutdown(self) -> None:
        # MemoryJobStore forgets its jobs at shutdown (remove_all_jobs): the file keeps them.
        path, self.path = self.path, None
        try:
            super().shutdown()
        finally:
            self.path = path

    def _save(self) -> None:
        if self.path is None:
            return
        write_json(self.path, {job.id: {"args": list(job.args), "next_run_time":
                                        _iso(job.next_run_time)}
                               for job in self.get_all_jobs()})


def read(path: Path) -> dict[str, StoredJob]:
    """The jobs ``path`` holds (none if it does not exist)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SafeguardError(f"cannot read the schedule's run times {path}: {exc}") from exc
    try:
        return {name: StoredJob(name, tuple(str(a) for a in entry["args"]),
                                _parse(entry.get("next_run_time")))
                for name, entry in data.items()}
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise SafeguardError(f"the schedule's run times {path} are damaged ({exc}); remove "
                             "the file (the next start schedules every job afresh)") from exc


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
