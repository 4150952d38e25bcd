"""`safeguard schedule`: scheduled backups (schedule.py does the work). APScheduler is
imported on first use: every other command (`upgrade` first) would pay for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..config import Settings

if TYPE_CHECKING:
    from ..schedule import Job, RunResult, ScheduleStatus


def schedule_jobs(settings: Settings, *, every: str | None = None, cron: str | None = None,
                  tz: str | None = None, verify: bool = False, prune: bool = False,
                  name: str = "adhoc") -> list[Job]:
    """The jobs to run: the one ``every``/``cron`` describe, else the configured ones."""
    from .. import schedule

    if every is not None or cron is not None:
        return [schedule.command_line_job(every=every, cron=cron, tz=tz, verify=verify,
                                          prune=prune, name=name)]
    return schedule.configured_jobs(settings)


def schedule_status(settings: Settings, jobs: Sequence[Job]) -> ScheduleStatus:
    """Each job, its last outcome and its next run; whether a scheduler is running."""
    from .. import schedule

    return schedule.status(settings, jobs)


def run_jobs_once(settings: Settings, jobs: Sequence[Job]) -> list[RunResult]:
    """Run each job now, one after another (for cron, CI and tests)."""
    from .. import schedule

    return schedule.run_once(settings, jobs)


def serve_schedule(settings: Settings, jobs: Sequence[Job], *, persistent: bool = True) -> None:
    """Run the jobs on their triggers in the foreground until SIGTERM or SIGINT."""
    from .. import schedule

    schedule.serve(settings, jobs, persistent=persistent)
