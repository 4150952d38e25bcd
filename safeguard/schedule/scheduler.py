"""The foreground scheduler: the jobs on their triggers until SIGTERM or SIGINT, one
scheduler per snapshot store (its lock), jobs kept in a persistent job store."""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
    JobEvent,
    SchedulerEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED

from .. import ownership
from ..config import Settings
from ..durable import make_dir
from ..errors import ConfigError, LockBusyError, SafeguardError, StoreNotWritableError
from ..lock import database_lock, lock_path
from .jobs import Job
from .jobtimes import RunTimes
from .run import _ACTIVE, _IN_FLIGHT, _IN_FLIGHT_LOCK, RunResult, _iso, _journal_note, run_scheduled_job
from .stopping import StopRequest, stop_on_signals

log = logging.getLogger("safeguard.schedule")


#: The jobs' next run times, inside the snapshot store (see jobtimes.py).
JOB_STORE = "schedule.json"
#: The key of the lock a foreground scheduler holds: one scheduler per snapshot store,
#: or every backup would be taken twice.
SCHEDULER_LOCK = "scheduler"
#: A run at most this late (the scheduler was down, the host asleep) still happens,
#: coalesced into one; later than that it is logged as missed and waits for its next
#: time, because a backup someone put at 03:00 should not start in the working day.
MISFIRE_GRACE = timedelta(hours=1)
#: How often the main thread looks for a stop request while the scheduler runs.
POLL_S = 0.25


def serve(settings: Settings, jobs: Sequence[Job], *, persistent: bool = True) -> None:
    """Run the jobs on their triggers in the foreground until SIGTERM or SIGINT, which
    let a running job finish (so no snapshot is left half-written) and return.

    ``persistent``: keep the jobs' run times in `<store>/schedule.json`, reconciled with
    ``jobs`` at start (unchanged jobs keep their next run time; changed ones are
    replaced; jobs no longer given are removed). Command-line jobs pass False: they
    are throwaway, and must not remove the configured jobs from the store.
    """
    timed = [job for job in jobs if job.scheduled]
    if not timed:
        raise ConfigError(
            "no scheduled jobs: add job.NAME = SPEC to [safeguard] (e.g. job.nightly = "
            "cron 0 3 * * *; verify; prune) or pass --every/--cron"
            + ("; on-demand jobs run with `safeguard schedule --once --job NAME`" if jobs else ""))
    root = settings.store_dir
    ownership.check_private(root)
    with ExitStack() as stack:
        stack.enter_context(_scheduler_lock(root))
        store = RunTimes(root / JOB_STORE if persistent else None)
        stop = stack.enter_context(stop_on_signals())
        runner = _Runner(settings, jobs, store, stop)
        key = str(settings.config_file.resolve())
        _ACTIVE[key] = settings
        stack.callback(_ACTIVE.pop, key, None)
        runner.run()


class _Runner:
    """One foreground run: builds the scheduler, reconciles, logs, stops."""

    def __init__(self, settings: Settings, jobs: Sequence[Job], store: RunTimes,
                 stop: StopRequest) -> None:
        self.settings = settings
        self.store = store
        self.jobs = {job.name: job for job in jobs if job.scheduled}
        self.on_demand = [job for job in jobs if not job.scheduled]
        self.key = str(settings.config_file.resolve())
        # Built once, to compute each run's next time in the event listener without
        # asking the scheduler (which would take its job store lock from a worker).
        self.triggers = {name: job.trigger() for name, job in self.jobs.items()}
        self.startup_error: BaseException | None = None
        self.stop = stop
        # APScheduler's own thread runs the schedule; the main thread only waits for a
        # stop request (a signal handler may do nothing but record one) and then calls
        # shutdown(), which takes the scheduler's locks: a due job being submitted is
        # finished first, a running one is waited for.
        self.scheduler = BackgroundScheduler(
            jobstores={"default": store},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": int(MISFIRE_GRACE.total_seconds())},
            timezone=timezone.utc,
        )
        self.scheduler.add_listener(self._started, EVENT_SCHEDULER_STARTED)
        self.scheduler.add_listener(self._ran, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
                                    | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    def run(self) -> None:
        try:
            self.scheduler.start()
        except Exception as exc:  # the job store could not be opened, say
            self.startup_error = _translate(exc)
        while self.startup_error is None and self.stop.signum is None:
            time.sleep(POLL_S)
        if self.startup_error is None:
            with _IN_FLIGHT_LOCK:
                busy = sorted(_IN_FLIGHT)
            log.info("%s: stopping%s", self.stop.name,
                     f"; waiting for job {', '.join(busy)} to finish" if busy else "")
        if self.scheduler.state != STATE_STOPPED:
            self.scheduler.shutdown(wait=True)  # lets a running job finish
        if self.startup_error is not None:
            raise self.startup_error
        log.info("scheduler stopped")

    def _started(self, _event: SchedulerEvent) -> None:
        # Listener errors are only logged by APScheduler: keep this one to re-raise.
        try:
            self._reconcile()
        except BaseException as exc:  # re-raised by run()
            self.startup_error = _translate(exc)
            self.stop.signum = signal.SIGTERM
            return
        log.info("scheduler started: %d job(s), times in each job's timezone (UTC unless "
                 "tz is given)", len(self.jobs))
        for job in self.scheduler.get_jobs():
            log.info("job %s (%s): next run %s", job.id, self.jobs[job.id].spec,
                     _iso(job.next_run_time))
        for job in self.on_demand:
            log.info("job %s (on-demand): runs only with `safeguard schedule --once --job %s`",
                     job.name, job.name)

    def _reconcile(self) -> None:
        """Schedule exactly the configured jobs, each unchanged one at the next run
        time it had (so a restart does not reset it)."""
        stored = self.store.previous
        for name in sorted(stored.keys() - self.jobs.keys()):
            log.info("job %s: no longer configured; removed from the schedule", name)
        for name, job in self.jobs.items():
            args = (self.key, name, job.spec)
            kept = stored.get(name)
            when = {"next_run_time": kept.next_run_time} if kept is not None \
                and kept.args == args and kept.next_run_time is not None else {}
            self.scheduler.add_job(run_scheduled_job, self.triggers[name], args=args, id=name,
                                   name=name, replace_existing=True, **when)

    def _ran(self, event: JobEvent) -> None:
        """One log line per run (called on the worker thread that ran it)."""
        scheduled = getattr(event, "scheduled_run_time", None)
        trigger = self.triggers.get(event.job_id)
        upcoming = trigger.get_next_fire_time(scheduled, datetime.now(timezone.utc)) \
            if trigger and scheduled else None
        then = f"; next run {_iso(upcoming)}"
        if event.code == EVENT_JOB_EXECUTED:
            result: RunResult = event.retval
            log.log(logging.INFO if result.ok else logging.ERROR, result.describe() + then)
        elif event.code == EVENT_JOB_ERROR:
            log.error("job %s: FAILED: %s: %s%s", event.job_id, type(event.exception).__name__,
                      event.exception, then)
        elif event.code == EVENT_JOB_MISSED:
            log.warning("job %s: missed its %s run (more than %s late)%s", event.job_id,
                        _iso(scheduled), MISFIRE_GRACE, then)
            job = self.jobs.get(event.job_id)
            if job:
                _journal_note(self.settings, job, "schedule",
                              {"job": job.name, "outcome": "missed", "scheduled_for": _iso(scheduled)})
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            log.warning("job %s: still running from its previous time; this run is skipped",
                        event.job_id)


@contextmanager
def _scheduler_lock(root: Path) -> Iterator[None]:
    """Hold the store's scheduler lock, or refuse: a second scheduler would double
    every backup."""
    try:
        make_dir(root)
    except OSError as exc:
        raise StoreNotWritableError(f"snapshot store {root} is not writable: "
                                    f"{exc.strerror or exc}") from exc
    with ExitStack() as stack:
        try:
            stack.enter_context(database_lock(root, SCHEDULER_LOCK, timeout=0,
                                              purpose="safeguard schedule"))
        except LockBusyError as exc:
            holder = _holder(root) or {}
            raise LockBusyError(f"a scheduler is already running for {root} (pid "
                                f"{holder.get('pid', '?')}, since {holder.get('since', '?')}); "
                                f"stop it first") from exc
        yield


def _holder(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads(lock_path(root, SCHEDULER_LOCK).read_text() or "null")
    except (OSError, ValueError):
        return None


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, SafeguardError):
        return exc
    error = SafeguardError(f"cannot start the scheduler: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
