"""One run of a job: a snapshot under the database's lock, then verify and prune if
the job asks, journaled as one `kind: "schedule"` note. A run never raises: a failed
backup is a result to log, and the scheduler outlives it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from ..config import Settings, load_settings
from ..errors import JournalError, RemoteError, SafeguardError
from ..journal import Journal
from ..operations.prune import prune
from ..operations.snapshot import create_snapshot
from ..operations.verify import verify_snapshot
from ..reporting import size_words
from ..workspace import Workspace
from .jobs import Job, parse_job
from .stopping import stop_on_signals

log = logging.getLogger("safeguard.schedule")


# -- one run ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunResult:
    """What one run of a job did: its snapshot, how long it took, how it ended."""

    job: str
    outcome: Literal["ok", "failed", "skipped"]
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
            parts = [f"snapshot {self.snapshot}", size_words(self.size or 0), f"{self.duration_s:.2f}s"]
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
        retried = Workspace(settings).retry_uploads() if settings.remote else []
        # A signal lets the running snapshot finish (stopping.py), then stops the schedule.
        snapshot = create_snapshot(settings, label=job.name, reason=f"scheduled: {job.name}",
                                   stop_on_signal=False)
        facts.update(snapshot=snapshot.id, size=snapshot.size)
        for copy in retried:  # a failed upload fails the run until it is retried with success
            if not copy.ok:
                raise RemoteError(f"{copy.error} (retrying an earlier failed upload)")
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
    result = RunResult(job=job.name, outcome=facts.pop("outcome", "ok"),
                       started_at=started.isoformat(timespec="seconds"),
                       duration_s=round(time.monotonic() - clock, 3), **facts)
    _journal_note(settings, job, trigger, result.to_dict())
    return result


def _journal_note(settings: Settings, job: Job, trigger: str, facts: dict[str, Any]) -> None:
    try:
        Journal(settings.store_dir).append({"op": "-", "kind": "schedule", "event": "note",
                                            "trigger": trigger, "spec": job.spec, **facts})
    except JournalError as exc:  # the run itself is over; losing its note must not hide it
        log.error("job %s: its run was not noted: %s", job.name, exc)


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
    with stop_on_signals() as stop:
        for job in jobs:
            if stop.signum is not None:
                results.append(RunResult(job=job.name, outcome="skipped", started_at=now_iso(),
                                         duration_s=0.0, exit_code=1,
                                         error=f"stopped by {stop.name} before it ran"))
            else:
                results.append(run_job(settings, job, trigger="once"))
            log.log(logging.INFO if results[-1].ok else logging.ERROR, results[-1].describe())
    return results


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
