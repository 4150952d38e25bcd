"""Scheduled backups: named snapshot policies, run by APScheduler.

A job is a named snapshot policy in the `[safeguard]` section of alembic.ini:

    job.nightly    = cron 0 3 * * *; verify; prune
    job.hourly     = every 1h; prune
    job.weekdays   = cron 30 2 * * 1-5; tz Europe/Paris; verify
    job.pre-deploy = on-demand; verify

A SPEC is a trigger, then options, separated by ``;``:

    cron MIN HOUR DOM MON DOW   five crontab fields, crontab meaning (0 or 7 = Sunday)
    every DURATION              30s, 15m, 1h30m, 1d: the first run one DURATION after start
    on-demand                   never on a timer; run by `safeguard schedule --once --job NAME`
    verify                      test-restore each snapshot after taking it
    prune                       apply the retention policy after each snapshot
    tz ZONE                     the trigger's timezone (an IANA name); UTC when not given

Each run takes a snapshot under the database's lock (`operations/snapshot.py`: a
backup never runs during a migration, and a migration waits for a running backup), then
verifies and prunes if asked, journals one ``kind: "schedule"`` note with its outcome,
and never raises: a failed backup is a result to log, and the scheduler outlives it.

This is the only module that imports APScheduler. Configured jobs live in a persistent
job store (`<store>/schedule.sqlite`), so a restart keeps their next run times. That
store pickles each job's callable *reference* and its arguments, so the callable is the
module-level `run_scheduled_job` and the arguments are three strings: the config path,
the job name and its canonical spec. Never the database URL, which may carry a
password: the running scheduler supplies its own settings.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time
import zoneinfo
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from threading import TIMEOUT_MAX
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
from apscheduler.jobstores.base import BaseJobStore
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .config import Settings, load_settings
from .durable import FILE_MODE, make_dir
from .errors import ConfigError, LockBusyError, SafeguardError, StoreNotWritableError
from .journal import Journal
from .lock import database_lock, lock_path
from .operations.prune import prune
from .operations.snapshot import create_snapshot
from .operations.verify import verify_snapshot

log = logging.getLogger(__name__)

#: The persistent job store, inside the snapshot store.
JOB_STORE = "schedule.sqlite"
#: The key of the lock a foreground scheduler holds: one scheduler per snapshot store,
#: or every backup would be taken twice.
SCHEDULER_LOCK = "scheduler"
#: A run at most this late (the scheduler was down, the host asleep) still happens,
#: coalesced into one; later than that it is logged as missed and waits for its next
#: time, because a backup someone put at 03:00 should not start in the working day.
MISFIRE_GRACE = timedelta(hours=1)
#: How often the foreground loop looks for a stop request (see `_Foreground`).
POLL_S = 0.25

_KINDS = ("cron", "every", "on-demand")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DURATION = re.compile(r"^(?:\d+[smhd])+$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: Crontab's weekday numbers: Sunday is 0 (and 7).
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_EXAMPLES = "e.g. 'cron 0 3 * * *; verify; prune', 'every 30m; prune' or 'on-demand'"


# -- the job: a named snapshot policy --------------------------------------------------

@dataclass(frozen=True)
class Job:
    """One named snapshot policy: when it runs, and what follows each snapshot."""

    name: str
    kind: str  # "cron" | "every" | "on-demand"
    expression: str = ""  # the cron fields, or the duration; "" for on-demand
    timezone: str = "UTC"
    verify: bool = False
    prune: bool = False

    @property
    def scheduled(self) -> bool:
        """True for jobs with a timer (on-demand jobs run only when named)."""
        return self.kind != "on-demand"

    @property
    def spec(self) -> str:
        """The canonical spec: what the job store keeps and what reconciliation compares."""
        parts = [f"{self.kind} {self.expression}".strip()]
        if self.timezone != "UTC":
            parts.append(f"tz {self.timezone}")
        parts += [word for word, on in (("verify", self.verify), ("prune", self.prune)) if on]
        return "; ".join(parts)

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger (the spec was validated when it was parsed)."""
        tz = zoneinfo.ZoneInfo(self.timezone)
        if self.kind == "every":
            return IntervalTrigger(seconds=parse_duration(self.expression), timezone=tz)
        if self.kind == "cron":
            return _cron_trigger(self.expression, tz)
        raise ValueError(f"job {self.name} is on-demand: it has no trigger")


def parse_job(name: str, spec: str, *, where: str | None = None) -> Job:
    """Parse a job SPEC (see the module docstring), or raise one ConfigError naming
    the job (``where``: how the user wrote it, ``job.NAME`` by default)."""
    where = where or f"job.{name}"

    def bad(problem: str) -> ConfigError:
        return ConfigError(f"{where}: {problem} in {spec.strip()!r} ({_EXAMPLES})")

    if not _NAME.match(name):
        raise ConfigError(f"{where}: a job name is letters, digits, '_', '-' and '.'")
    clauses = [" ".join(c.split()) for c in spec.split(";")]
    if not clauses[0]:
        raise bad("no trigger")
    kind, _, expression = clauses[0].partition(" ")
    kind = kind.lower()
    if kind not in _KINDS:
        raise bad(f"unknown trigger {kind!r} (expected cron, every or on-demand)")
    options: dict[str, Any] = {}
    for clause in clauses[1:]:
        word, _, value = clause.partition(" ")
        word = word.lower()
        if word in ("verify", "prune") and not value:
            options[word] = True
        elif word == "tz" and value:
            options["timezone"] = value
        elif clause:
            raise bad(f"unknown option {clause!r} (expected verify, prune or tz ZONE)")
    if kind == "on-demand" and expression:
        raise bad("on-demand takes no argument")
    job = Job(name, kind, expression.lower() if kind == "every" else expression, **options)
    try:
        tz = zoneinfo.ZoneInfo(job.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise bad(f"unknown timezone {job.timezone!r}") from exc
    if kind == "every":
        if not _DURATION.match(job.expression) or parse_duration(job.expression) <= 0:
            raise bad(f"{expression or 'nothing'!r} is not a duration (30s, 15m, 1h30m, 1d)")
    elif kind == "cron":
        try:
            _cron_trigger(expression, tz)
        except ValueError as exc:
            raise bad(f"bad cron expression: {exc}") from exc
    return job


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``30s``, ``15m``, ``1h30m`` or ``1d``."""
    return sum(int(n) * _UNIT_S[unit] for n, unit in re.findall(r"(\d+)([smhd])", text))


def configured_jobs(settings: Settings) -> list[Job]:
    """The `job.NAME = SPEC` entries of the configuration, parsed, in name order."""
    return [parse_job(name, spec) for name, spec in sorted(settings.jobs.items())]


def command_line_job(*, every: str | None = None, cron: str | None = None, tz: str | None = None,
                     verify: bool = False, prune: bool = False, name: str = "adhoc") -> Job:
    """A job given by flags (`--every 30m` or `--cron '0 3 * * *'`), validated exactly
    as a configured one."""
    if (every is None) == (cron is None):
        raise ConfigError("give one of --every DURATION or --cron 'EXPR'")
    flag, value = ("--every", every) if every is not None else ("--cron", cron)
    if ";" in value or (tz and ";" in tz):
        raise ConfigError(f"{flag}: ';' is not allowed in {value!r}")
    parts = [f"{'every' if every is not None else 'cron'} {value}"]
    parts += [f"tz {tz}"] if tz else []
    parts += [w for w, on in (("verify", verify), ("prune", prune)) if on]
    return parse_job(name, "; ".join(parts), where=flag)


def _cron_trigger(expression: str, tz: zoneinfo.ZoneInfo) -> CronTrigger:
    """A CronTrigger that means what the expression means in crontab.

    APScheduler 3 differs from crontab twice: it counts weekdays from Monday = 0, and it
    ANDs a restricted day-of-month with a restricted day-of-week where crontab ORs
    them. The weekdays are rewritten as names; the second case is refused rather than
    run on the wrong days.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{len(fields)} fields, expected 5 (minute hour day month weekday)")
    minute, hour, day, month, weekday = fields
    if not day.startswith("*") and not weekday.startswith("*"):
        raise ValueError("both day-of-month and day-of-week are restricted (crontab runs "
                         "when either matches); use two jobs")
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=_crontab_weekdays(weekday), timezone=tz)


def _crontab_weekdays(field: str) -> str:
    """A crontab weekday field (0 or 7 = Sunday, names, ranges, steps, lists) as a list
    of day names, which APScheduler reads unambiguously."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        span, _, step = item.partition("/")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, _, last = span.partition("-")
            low, high = _weekday(first), _weekday(last)
        else:
            low = _weekday(span)
            high = 6 if step else low  # crontab: "1/2" runs from 1 to the end of the week
        stride = int(step) if step.isdigit() else 0 if step else 1
        if stride < 1 or low > high:
            raise ValueError(f"bad weekday {item!r}")
        days.update(d % 7 for d in range(low, high + 1, stride))
    return ",".join(_WEEKDAYS[d] for d in sorted(days))


def _weekday(token: str) -> int:
    token = token.lower()
    if token in _WEEKDAYS:
        return _WEEKDAYS.index(token)
    if token.isdigit() and int(token) <= 7:
        return int(token)
    raise ValueError(f"bad weekday {token!r} (0-7 or sun..sat)")


# -- one run ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunResult:
    """What one run of a job did: its snapshot, how long it took, how it ended."""

    job: str
    outcome: str  # "ok" | "failed" | "skipped"
    started_at: str
    duration_s: float
    snapshot: str | None = None
    size: int | None = None
    verified: bool | None = None
    pruned: int | None = None
    error: str | None = None
    exit_code: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """The one log line of this run."""
        if self.outcome == "skipped":
            return f"job {self.job}: skipped: {self.error}"
        if self.ok:
            parts = [f"snapshot {self.snapshot}", f"{self.size:,} bytes", f"{self.duration_s:.2f}s"]
            parts += ["verified"] if self.verified else []
            parts += [f"pruned {self.pruned}"] if self.pruned is not None else []
            return f"job {self.job}: ok: {', '.join(parts)}"
        taken = f" (snapshot {self.snapshot} was taken)" if self.snapshot else ""
        return f"job {self.job}: FAILED after {self.duration_s:.2f}s: {self.error}{taken}"


def run_job(settings: Settings, job: Job, *, trigger: str = "schedule") -> RunResult:
    """Run one job now: a snapshot under the database's lock, then verify and prune if
    the job asks. Journals the outcome; returns failures instead of raising them."""
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    facts: dict[str, Any] = {}
    try:
        snapshot = create_snapshot(settings, label=job.name, reason=f"scheduled: {job.name}")
        facts.update(snapshot=snapshot.id, size=snapshot.size)
        if job.verify:
            facts["verified"] = False
            verify_snapshot(settings, snapshot.id)
            facts["verified"] = True
        if job.prune:
            facts["pruned"] = sum(not d.keep for d in prune(settings))
    except SafeguardError as exc:
        facts.update(outcome="failed", error=exc.message, exit_code=exc.exit_code)
    except Exception as exc:  # an untranslated error must not kill the scheduler either
        log.debug("job %s raised", job.name, exc_info=True)
        facts.update(outcome="failed", error=f"{type(exc).__name__}: {exc}", exit_code=1)
    result = RunResult(job.name, facts.pop("outcome", "ok"), started.isoformat(timespec="seconds"),
                       round(time.monotonic() - clock, 3), **facts)
    _journal_note(settings, job, trigger, result.to_dict())
    return result


def _journal_note(settings: Settings, job: Job, trigger: str, facts: dict[str, Any]) -> None:
    try:
        Journal(settings.store_dir).append({"op": "-", "kind": "schedule", "event": "note",
                                            "trigger": trigger, "spec": job.spec, **facts})
    except OSError as exc:  # the run itself is over; losing its note must not hide it
        log.error("job %s: cannot write the journal: %s", job.name, exc)


def last_runs(settings: Settings) -> dict[str, dict[str, Any]]:
    """Each job's latest journaled run (or missed run), by job name."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in Journal(settings.store_dir).entries():
        if entry.get("kind") == "schedule" and entry.get("event") == "note":
            latest[entry.get("job", "?")] = entry
    return latest


# Settings of the schedulers running in this process, by config path. The job store
# keeps only plain strings; this is where a stored job finds the URL and flags again.
_ACTIVE: dict[str, Settings] = {}
_IN_FLIGHT: set[str] = set()
_IN_FLIGHT_LOCK = threading.Lock()


def run_scheduled_job(config_file: str, name: str, spec: str) -> RunResult:
    """The callable the job store refers to: run job ``name`` with the settings of the
    scheduler that runs it (its config, when none is active, e.g. in another tool)."""
    settings = _ACTIVE.get(config_file) or load_settings(config_file)
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.add(name)
    try:
        return run_job(settings, parse_job(name, spec))
    finally:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT.discard(name)


def run_once(settings: Settings, jobs: Sequence[Job]) -> list[RunResult]:
    """Run each job now, one after another (for cron, CI and tests). SIGTERM or SIGINT
    lets the running job finish, then skips the rest."""
    results: list[RunResult] = []
    with _stop_on_signals() as stop:
        for job in jobs:
            if stop.signum is not None:
                results.append(RunResult(job.name, "skipped", _now(), 0.0, exit_code=1,
                                         error=f"stopped by {stop.name} before it ran"))
            else:
                results.append(run_job(settings, job, trigger="once"))
            log.log(logging.INFO if results[-1].ok else logging.ERROR, results[-1].describe())
    return results


# -- the foreground scheduler ----------------------------------------------------------

class _StopRequest:
    """What a signal handler records. The handler does nothing else: it runs on the
    main thread between two bytecodes, possibly while that thread holds a lock (the
    scheduler's, an Event's, logging's), so taking any lock there could deadlock."""

    signum: int | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "?"


@contextmanager
def _stop_on_signals() -> Iterator[_StopRequest]:
    """Turn SIGTERM and SIGINT into a stop request for the body, then restore the old
    handlers. Off the main thread (an in-process test runner) signals are left alone."""
    stop = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def record(signum: int, _frame: object) -> None:
        if stop.signum is not None:
            # os.write is safe in a handler; logging (which locks) is not.
            os.write(2, b"safeguard: already stopping: waiting for the running job to finish\n")
        stop.signum = signum

    previous = {sig: signal.signal(sig, record) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Foreground(BlockingScheduler):
    """A BlockingScheduler whose main loop also ends on a stop request.

    Calling `shutdown()` from the signal handler, or from another thread while the
    main loop may be half-way through submitting a due job, is what this avoids: the
    loop never sleeps longer than POLL_S, returns when it sees the request, and the
    shutdown that waits for a running job then happens on the main thread, with no
    scheduler lock held. (This overrides APScheduler 3's private main loop; the
    dependency is pinned below 4.)
    """

    def __init__(self, stop: _StopRequest, **options: Any) -> None:
        super().__init__(**options)
        self.stop = stop

    def _main_loop(self) -> None:
        deadline = 0.0  # look for due jobs at once
        while self.state != STATE_STOPPED and self.stop.signum is None:
            woken = self._event.wait(max(0.0, min(deadline - time.monotonic(), POLL_S)))
            if self.stop.signum is not None:
                break
            if woken or time.monotonic() >= deadline:
                self._event.clear()
                wait_s = self._process_jobs()
                deadline = time.monotonic() + (TIMEOUT_MAX if wait_s is None else wait_s)


def serve(settings: Settings, jobs: Sequence[Job], *, persistent: bool = True) -> None:
    """Run the jobs on their triggers in the foreground until SIGTERM or SIGINT, which
    let a running job finish (so no snapshot is left half-written) and return.

    ``persistent``: keep the jobs in `<store>/schedule.sqlite`, reconciled with
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
    with ExitStack() as stack:
        stack.enter_context(_scheduler_lock(root))
        store: BaseJobStore = _job_store(root) if persistent else MemoryJobStore()
        stop = stack.enter_context(_stop_on_signals())
        runner = _Runner(settings, jobs, store, stop)
        key = str(settings.config_file.resolve())
        _ACTIVE[key] = settings
        stack.callback(_ACTIVE.pop, key, None)
        runner.run()


class _Runner:
    """One foreground run: builds the scheduler, reconciles, logs, stops."""

    def __init__(self, settings: Settings, jobs: Sequence[Job], store: BaseJobStore,
                 stop: _StopRequest) -> None:
        self.settings = settings
        self.jobs = {job.name: job for job in jobs if job.scheduled}
        self.on_demand = [job for job in jobs if not job.scheduled]
        self.key = str(settings.config_file.resolve())
        # Built once, to compute each run's next time in the event listener without
        # asking the scheduler (which would take its job store lock from a worker).
        self.triggers = {name: job.trigger() for name, job in self.jobs.items()}
        self.startup_error: BaseException | None = None
        self.stop = stop
        self.scheduler = _Foreground(
            stop,
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
            self.scheduler.start()  # returns when a stop is requested
        except Exception as exc:  # noqa: BLE001 - the job store could not be opened, say
            self.startup_error = _translate(exc)
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
        except BaseException as exc:  # noqa: BLE001 - re-raised by run()
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
        """Make the job store hold exactly the configured jobs."""
        stored = {job.id: job for job in self.scheduler.get_jobs()}
        for name in sorted(stored.keys() - self.jobs.keys()):
            self.scheduler.remove_job(name)
            log.info("job %s: no longer configured; removed from the schedule", name)
        for name, job in self.jobs.items():
            args = (self.key, name, job.spec)
            kept = stored.get(name)
            if kept is not None and tuple(kept.args) == args and kept.next_run_time is not None:
                continue  # unchanged: keep its next run time, so a restart does not reset it
            self.scheduler.add_job(run_scheduled_job, self.triggers[name], args=args, id=name,
                                   name=name, replace_existing=True)

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


def _job_store(root: Path) -> SQLAlchemyJobStore:
    path = root / JOB_STORE
    # Create it private before SQLite does (with the umask's mode): it names the project.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    return SQLAlchemyJobStore(url=f"sqlite:///{path}")


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

    def to_dict(self) -> dict[str, Any]:
        return {"running": self.running, "pid": self.pid, "since": self.since,
                "job_store": self.job_store, "jobs": [j.to_dict() for j in self.jobs]}


def status(settings: Settings, jobs: Sequence[Job]) -> ScheduleStatus:
    """Read the schedule's health without changing it: the scheduler lock, the job
    store's next run times and the journal's last outcomes."""
    root = settings.store_dir
    running, holder = _running(root)
    stored = _stored_jobs(root / JOB_STORE)
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
                          tuple(rows))


def _running(root: Path) -> tuple[bool, dict[str, Any]]:
    """Whether a scheduler holds the store's scheduler lock (and who)."""
    if not lock_path(root, SCHEDULER_LOCK).is_file():
        return False, {}
    try:
        with database_lock(root, SCHEDULER_LOCK, timeout=0, purpose="schedule --status"):
            return False, {}
    except LockBusyError:
        return True, _holder(root) or {}


def _holder(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads(lock_path(root, SCHEDULER_LOCK).read_text() or "null")
    except (OSError, ValueError):
        return None


def _stored_jobs(path: Path) -> dict[str, Any]:
    """The jobs in the persistent store, read without a running scheduler."""
    if not path.is_file():
        return {}
    store = SQLAlchemyJobStore(url=f"sqlite:///{path}")
    try:
        # A job store reads jobs on behalf of a scheduler; an idle one serves.
        store.start(BlockingScheduler(timezone=timezone.utc), "default")
        return {job.id: job for job in store.get_all_jobs()}
    except Exception as exc:  # SQLAlchemy's and pickle's errors alike
        raise SafeguardError(f"cannot read the job store {path}: {exc}") from exc
    finally:
        store.shutdown()


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, SafeguardError):
        return exc
    error = SafeguardError(f"cannot start the scheduler: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
