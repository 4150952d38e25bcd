"""`safeguard schedule`: scheduled backups in the foreground, `--once`, `--status`."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from ..config import Settings
from ..operations.schedule import run_jobs_once, schedule_jobs, schedule_status, serve_schedule
from .base import Cli, EchoHandler, command

if TYPE_CHECKING:
    from .. import schedule as schedule_

LOGGERS = ("safeguard.schedule", "apscheduler")


@command("schedule")
@click.option("--once", is_flag=True,
              help="Run every scheduled job now, one after another, and exit "
                   "(non-zero if any failed). For cron, CI and tests.")
@click.option("--status", "show_status", is_flag=True,
              help="Show each job, its last outcome and its next run; start nothing.")
@click.option("--job", "only", multiple=True, metavar="NAME",
              help="With --once: run only this job (repeatable; on-demand jobs too).")
@click.option("--every", metavar="DURATION",
              help="Run one job from the command line every DURATION (30s, 15m, 1h30m, 1d) "
                   "instead of the configured jobs.")
@click.option("--cron", metavar="'EXPR'",
              help="Run one job from the command line on a crontab expression "
                   "('0 3 * * *') instead of the configured jobs.")
@click.option("--tz", metavar="ZONE", help="Timezone of --every/--cron (default UTC).")
@click.option("--verify", is_flag=True, help="With --every/--cron: test-restore each snapshot.")
@click.option("--prune", is_flag=True, help="With --every/--cron: apply retention after each snapshot.")
@click.option("--name", default="adhoc", show_default=True,
              help="With --every/--cron: the job's name (its snapshots' label).")
@click.option("--lock-timeout", type=float, metavar="SECONDS",
              help="How long a run waits for a running migration (default 60).")
def schedule(cli: Cli, once: bool, show_status: bool, only: tuple[str, ...], every: str | None,
             cron: str | None, tz: str | None, verify: bool, prune: bool, name: str,
             lock_timeout: float | None) -> None:
    """Take snapshots on a schedule, in the foreground, until SIGTERM or SIGINT (which
    let a running snapshot finish).

    Jobs come from `job.NAME = SPEC` keys in [safeguard], e.g.

    \b
        job.nightly    = cron 0 3 * * *; verify; prune
        job.hourly     = every 1h; prune
        job.weekdays   = cron 30 2 * * 1-5; tz Europe/Paris
        job.pre-deploy = on-demand; verify

    or from --every/--cron. Times are UTC unless `tz ZONE` is given. Each run takes the
    database's lock, so a backup never overlaps a guarded migration.
    """
    flag_job = every is not None or cron is not None
    if show_status and (once or flag_job or only):
        raise click.UsageError("--status takes no other schedule option")
    if only and not once:
        raise click.UsageError("--job NAME goes with --once")
    if not flag_job and (tz or verify or prune or name != "adhoc"):
        raise click.UsageError("--tz, --verify, --prune and --name describe an --every/--cron job")
    if flag_job and only:
        raise click.UsageError("--job selects configured jobs; --every/--cron define their own")

    settings = cli.settings(lock_timeout=lock_timeout)
    jobs = schedule_jobs(settings, every=every, cron=cron, tz=tz, verify=verify, prune=prune,
                             name=name)
    if show_status:
        _print_status(cli, schedule_status(settings, jobs))
        return
    with _logging_to_stderr(cli):
        if once:
            _run_once(cli, settings, _select(jobs, only, flag_job))
        else:
            serve_schedule(settings, jobs, persistent=not flag_job)


def _select(jobs: list[schedule_.Job], only: tuple[str, ...], flag_job: bool) -> list[schedule_.Job]:
    """--once runs the scheduled jobs, or exactly the ones named with --job."""
    if not only:
        chosen = [job for job in jobs if job.scheduled or flag_job]
        if not chosen:
            raise click.UsageError("no scheduled jobs to run: configure job.NAME = SPEC, pass "
                                   "--every/--cron, or name an on-demand job with --job")
        return chosen
    by_name = {job.name: job for job in jobs}
    unknown = [n for n in only if n not in by_name]
    if unknown:
        raise click.UsageError(f"no job named {', '.join(unknown)} (configured: "
                               f"{', '.join(by_name) or 'none'})")
    return [by_name[n] for n in only]


def _run_once(cli: Cli, settings: Settings, jobs: list[schedule_.Job]) -> None:
    results = run_jobs_once(settings, jobs)
    if cli.json:
        cli.emit({"ok": all(r.ok for r in results), "runs": [r.to_dict() for r in results]})
    failed = [r for r in results if not r.ok]
    if failed:
        click.get_current_context().exit(failed[0].exit_code or 1)


def _print_status(cli: Cli, status: schedule_.ScheduleStatus) -> None:
    if cli.json:
        cli.emit(status.to_dict())
        return
    state = (f"running (pid {status.pid}, since {status.since})" if status.running
             else "not running")
    click.echo(f"Scheduler: {state}")
    click.echo(f"Job store: {status.job_store}")
    if status.remote is not None:
        ok = status.remote["last_success"]
        click.echo(f"Remote: {status.remote['url']}: last upload "
                   + (f"{ok['ts']} ({ok['snapshot']})" if ok else "never"))
        failed = status.remote["last_failure"]
        if failed and (not ok or failed["ts"] > ok["ts"]):
            click.echo(f"  last failure {failed['ts']} ({failed['snapshot']}): {failed.get('error')}")
    if not status.jobs:
        click.echo("No jobs configured (add job.NAME = SPEC to [safeguard]).")
        return
    name_w = max(len("JOB"), *(len(j.name) for j in status.jobs))
    spec_w = max(len("SCHEDULE"), *(len(j.spec) for j in status.jobs))
    click.echo(f"{'JOB':<{name_w}}  {'SCHEDULE':<{spec_w}}  {'NEXT RUN':<25}  LAST RUN")
    for job in status.jobs:
        last = "never"
        if job.last:
            last = f"{job.last.get('ts', '?')[:19]} {job.last.get('outcome', '?')}"
            detail = job.last.get("snapshot") if job.last.get("outcome") == "ok" else job.last.get("error")
            last += f" {detail}" if detail else ""
        click.echo(f"{job.name:<{name_w}}  {job.spec:<{spec_w}}  {job.next_run or '-':<25}  {last}")
        if job.note:
            click.echo(f"{'':<{name_w}}  ({job.note})")


@contextmanager
def _logging_to_stderr(cli: Cli) -> Iterator[None]:
    """The scheduler's log: one timestamped UTC line per event on stderr. APScheduler's
    own chatter only with -v (its errors always)."""
    handler = EchoHandler()
    formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    levels = {"safeguard.schedule": logging.WARNING if cli.verbosity < 0 else
              logging.DEBUG if cli.verbosity > 0 else logging.INFO,
              "apscheduler": logging.INFO if cli.verbosity > 0 else logging.ERROR}
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.setLevel(levels[name])
        logger.propagate = False
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


COMMANDS = (schedule,)
