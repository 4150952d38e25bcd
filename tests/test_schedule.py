"""Scheduled backups: the real scheduler in a real process, real signals, a real store.

The stories: a scheduler that snapshots every second, prunes, and stops cleanly on
SIGTERM; one whose snapshots fail and which keeps going; a scheduled backup and a
guarded upgrade racing for the same database; `--once` and `--status` for operators.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import HEAD, SEED_AT, ProjectDir, version_of

from safeguard.errors import ConfigError
from safeguard.journal import Journal
from safeguard.schedule import parse_job

RETAIN_TWO = {"keep_last": "2", "keep_daily": "0", "keep_weekly": "0", "keep_monthly": "0"}


# -- helpers -------------------------------------------------------------------------------

def with_database(project: ProjectDir) -> ProjectDir:
    """A small real database (built with policy never: no snapshot of its own)."""
    project.cli("upgrade", SEED_AT, "--create", "--policy", "never")
    return project


class Scheduler:
    """`safeguard schedule ...` as a separate process; its stderr goes to a file, so a
    long run never blocks on a full pipe."""

    def __init__(self, project: ProjectDir, *args: str) -> None:
        self.project = project
        self.log_path = project.root / f"schedule-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "safeguard", "-c", str(project.ini), "--url", project.url,
             "schedule", *args],
            cwd=project.root, stdout=subprocess.DEVNULL, stderr=self._log)

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> tuple[int, float]:
        """Send ``sig``; return the exit code and how long the process took to exit."""
        self.proc.send_signal(sig)
        sent = time.monotonic()
        try:
            code = self.proc.wait(timeout)
        finally:
            self.kill()
        return code, time.monotonic() - sent

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def runs(project: ProjectDir, outcome: str | None = None) -> list[dict]:
    """The scheduled runs journaled so far."""
    return [e for e in Journal(project.store).entries()
            if e.get("kind") == "schedule" and (outcome is None or e.get("outcome") == outcome)]


def wait_for(condition, timeout: float, what: str, scheduler: Scheduler | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if scheduler is not None and scheduler.proc.poll() is not None:
            pytest.fail(f"the scheduler exited ({scheduler.proc.returncode}) before {what}:\n"
                        f"{scheduler.log}")
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}" + (f":\n{scheduler.log}" if scheduler else ""))


def snapshot_ids(project: ProjectDir) -> list[str]:
    out = project.cli("--json", "snapshot", "list").stdout
    return [s["id"] for s in json.loads(out)["snapshots"]]


def break_store(project: ProjectDir) -> None:
    """A regular file where the store's snapshots directory belongs: every snapshot
    fails (chmod would not do: the tests may run as root)."""
    snapshots = project.store / "snapshots"
    snapshots.parent.mkdir(exist_ok=True)
    if snapshots.is_dir():
        snapshots.rmdir()  # empty: the database was made without a snapshot
    snapshots.write_text("not a directory")


def leftovers(project: ProjectDir) -> list[Path]:
    return sorted((project.store / "snapshots").glob(".tmp-*"))


# -- the scheduler, running ------------------------------------------------------------------

def test_every_second_job_snapshots_prunes_and_stops_cleanly_on_sigterm(project):
    project.configure(**RETAIN_TWO)
    with_database(project)
    scheduler = Scheduler(project, "--every", "1s", "--prune")
    try:
        wait_for(lambda: len(runs(project, "ok")) >= 3, 20, "three scheduled snapshots", scheduler)
        # Aim the signal at a run in flight (a snapshot operation begun, not ended), so
        # stopping has a snapshot to let finish; either way the invariants below hold.
        journal = Journal(project.store)
        wait_for(lambda: journal.unfinished() or len(runs(project, "ok")) >= 6, 10,
                 "a run in flight", scheduler)
        code, took = scheduler.stop(signal.SIGTERM)
    finally:
        scheduler.kill()

    log = scheduler.log
    assert code == 0, log
    assert took < 5, f"took {took:.1f}s to stop\n{log}"
    assert "SIGTERM: stopping" in log and "scheduler stopped" in log
    ok_lines = [line for line in log.splitlines() if "job adhoc: ok: snapshot" in line]
    assert len(ok_lines) >= 3 and all(re.search(r" \d[\d.,]* (bytes|KiB|MiB), ", line)
                                      and "next run" in line for line in ok_lines), log
    assert leftovers(project) == []
    assert Journal(project.store).unfinished() == [], "a signal left an operation unfinished"
    remaining = snapshot_ids(project)
    assert 1 <= len(remaining) <= 2, remaining
    taken = {r["snapshot"] for r in runs(project, "ok")}
    assert set(remaining) <= taken and len(taken) >= 3
    assert all(r["pruned"] is not None for r in runs(project, "ok"))


def test_failing_job_is_reported_each_time_and_the_scheduler_keeps_running(project):
    project.configure(**{"job.often": "every 1s"})
    with_database(project)
    break_store(project)

    scheduler = Scheduler(project)
    try:
        wait_for(lambda: len(runs(project, "failed")) >= 3, 20, "three failed runs", scheduler)
        assert scheduler.proc.poll() is None, "the scheduler died after a failed run"
        code, _ = scheduler.stop(signal.SIGTERM)
    finally:
        scheduler.kill()

    log = scheduler.log
    assert code == 0, log
    failures = [line for line in log.splitlines() if "job often: FAILED" in line]
    assert len(failures) >= 3 and all(str(project.store) in line and "next run" in line
                                      for line in failures), log
    assert all(r["exit_code"] != 0 and r["snapshot"] is None for r in runs(project, "failed"))

    status = json.loads(project.cli("--json", "schedule", "--status").stdout)
    (often,) = status["jobs"]
    assert status["running"] is False
    assert often["last"]["outcome"] == "failed" and str(project.store) in often["last"]["error"]
    assert often["next_run"] is not None


def test_scheduled_backup_and_guarded_upgrade_started_together_never_overlap(seeded):
    seeded.configure(**{"job.nightly": "cron 0 3 * * *; verify"})
    earlier = len(Journal(seeded.store).entries())  # the fixture's own upgrade
    argv = [sys.executable, "-m", "safeguard", "-c", str(seeded.ini), "--url", seeded.url]
    procs = {
        name: subprocess.Popen(argv + args, cwd=seeded.root, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        for name, args in (("backup", ["schedule", "--once"]), ("upgrade", ["upgrade", "head"]))
    }
    outputs = {name: proc.communicate(timeout=60) for name, proc in procs.items()}
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name}: {outputs[name][1]}"

    entries = Journal(seeded.store).entries()[earlier:]
    ops = {e["op"]: e["kind"] for e in entries if e.get("event") == "begin"}
    span = {}
    for kind in ("snapshot", "upgrade"):
        (op,) = [op for op, k in ops.items() if k == kind]
        lines = [i for i, e in enumerate(entries) if e.get("op") == op]
        span[kind] = (min(lines), max(lines))
        assert entries[max(lines)]["event"] == "end", kind
    first, second = sorted(span, key=lambda kind: span[kind][0])
    assert span[first][1] < span[second][0], f"{first} and {second} overlap in the journal"
    assert version_of(seeded.db) == [HEAD]

    # The backup holds what the database held at that moment, and says so.
    (run,) = runs(seeded, "ok")
    assert run["verified"] is True
    manifest = json.loads((seeded.store / "snapshots" / run["snapshot"] / "manifest.json").read_text())
    expected = SEED_AT if first == "snapshot" else HEAD
    assert manifest["revisions"] == [expected], f"backup ran {'before' if first == 'snapshot' else 'after'} the upgrade"
    payload = seeded.store / "snapshots" / run["snapshot"] / "database.sqlite"
    assert version_of(payload) == [expected]


# -- operators' commands ----------------------------------------------------------------------

def test_once_runs_the_configured_jobs_and_status_shows_their_next_runs(project):
    # Only the job's own prune applies retention here (every snapshot is counted below).
    project.configure(**RETAIN_TWO, auto_prune="false", **{"job.nightly": "cron 0 3 * * *; verify; prune",
                                       "job.hourly": "every 1h",
                                       "job.pre-deploy": "on-demand; verify"})
    with_database(project)

    report = json.loads(project.cli("--json", "schedule", "--once").stdout)
    assert report["ok"] is True
    assert [r["job"] for r in report["runs"]] == ["hourly", "nightly"]  # not the on-demand one
    nightly = report["runs"][1]
    assert nightly["verified"] is True and nightly["pruned"] == 0 and nightly["size"] > 0
    on_demand = json.loads(project.cli("--json", "schedule", "--once", "--job", "pre-deploy").stdout)
    assert [r["job"] for r in on_demand["runs"]] == ["pre-deploy"]
    assert sorted(s for s in snapshot_ids(project)) == sorted(
        r["snapshot"] for r in report["runs"] + on_demand["runs"])
    assert [r["job"] for r in runs(project, "ok")] == ["hourly", "nightly", "pre-deploy"]

    before = json.loads(project.cli("--json", "schedule", "--status").stdout)
    assert {j["name"]: j["next_run"] for j in before["jobs"]} == {
        "hourly": None, "nightly": None, "pre-deploy": None}  # never started yet

    scheduler = Scheduler(project)
    try:
        wait_for(lambda: "job nightly (cron 0 3 * * *; verify; prune): next run" in scheduler.log,
                 15, "the start-up log", scheduler)
        status = json.loads(project.cli("--json", "schedule", "--status").stdout)
        code, _ = scheduler.stop(signal.SIGINT)
    finally:
        scheduler.kill()
    assert code == 0, scheduler.log
    assert status["running"] is True and status["pid"] == scheduler.proc.pid
    jobs = {j["name"]: j for j in status["jobs"]}
    now = datetime.now(timezone.utc)
    three_am = now.replace(hour=3, minute=0, second=0, microsecond=0)
    three_am += timedelta(days=1) if three_am <= now else timedelta()
    assert datetime.fromisoformat(jobs["nightly"]["next_run"]) == three_am
    hourly_next = datetime.fromisoformat(jobs["hourly"]["next_run"])
    assert timedelta(minutes=59) < hourly_next - now <= timedelta(hours=1)
    assert jobs["nightly"]["last"]["outcome"] == "ok"
    assert jobs["pre-deploy"]["next_run"] is None and jobs["pre-deploy"]["note"] == "on demand"

    # A restart keeps the stored next run times (an interval is not reset).
    again = Scheduler(project)
    try:
        wait_for(lambda: "job hourly" in again.log, 15, "the start-up log", again)
        code, _ = again.stop()
    finally:
        again.kill()
    assert code == 0
    after = json.loads(project.cli("--json", "schedule", "--status").stdout)
    assert {j["name"]: j["next_run"] for j in after["jobs"]}["hourly"] == jobs["hourly"]["next_run"]
    assert after["running"] is False
    text = project.cli("schedule", "--status").stdout
    assert "Scheduler: not running" in text and "nightly" in text and jobs["hourly"]["next_run"] in text


def test_once_exits_non_zero_when_a_job_fails(project):
    with_database(project)
    break_store(project)
    result = project.cli("schedule", "--once", "--every", "1h", expect=None)
    assert result.exit_code != 0
    assert "job adhoc: FAILED" in result.stderr and str(project.store) in result.stderr


def test_a_job_whose_journal_cannot_be_written_returns_a_failure_and_never_raises(project):
    """Issue 30 item 8: run_job promises never to raise; with a journal that cannot be
    written (here a directory stands where the file goes) its own note raised
    JournalError, which the scheduler would not have outlived."""
    from safeguard.config import load_settings
    from safeguard.schedule import run_job

    with_database(project)
    (project.store / "journal.jsonl").unlink()
    (project.store / "journal.jsonl").mkdir()
    settings = load_settings(str(project.ini), url=project.url)
    result = run_job(settings, parse_job("nightly", "every 1h"))
    # (A journal that is a directory is refused before anything is done: exit 3.)
    assert result.outcome == "failed" and result.exit_code == 3
    assert "journal" in (result.error or "") and "nothing was done" in (result.error or "")


@pytest.mark.parametrize("spec, complaint", [
    ("cron 0 3 * *", "4 fields, expected 5"),
    ("every 5x", "is not a duration"),
    ("cron 0 3 * * *; verfy", "unknown option 'verfy'"),
    ("every 1h; tz Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
    ("weekly", "unknown trigger 'weekly'"),
    ("cron 0 3 1 * mon", "both day-of-month and day-of-week"),
])
def test_malformed_job_spec_is_one_clear_error_line_and_exit_2(project, spec, complaint):
    project.configure(**{"job.nightly": spec})
    for args in (["schedule", "--once"], ["schedule", "--status"], ["schedule"]):
        result = project.cli(*args, expect=2)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("safeguard: error: job.nightly: "), lines
        assert complaint in lines[0], lines[0]


def test_cron_weekdays_mean_what_they_mean_in_crontab():
    """APScheduler 3 counts weekdays from Monday = 0; crontab from Sunday = 0."""
    sunday = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
    for spec, expected in [("cron 30 2 * * 1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
                           ("cron 0 4 * * 0", ["Sun"]), ("cron 0 4 * * 7", ["Sun"]),
                           ("cron 0 4 * * */2", ["Sun", "Tue", "Thu", "Sat"]),
                           ("cron 0 4 * * sat,sun", ["Sat", "Sun"])]:
        trigger = parse_job("wk", spec).trigger()
        fired, moment = [], sunday
        for _ in range(len(expected)):
            moment = trigger.get_next_fire_time(None, moment + timedelta(seconds=1))
            fired.append(moment.strftime("%a"))
        assert sorted(fired) == sorted(expected), spec
    paris = parse_job("paris", "cron 30 2 * * *; tz Europe/Paris").trigger()
    assert paris.get_next_fire_time(None, sunday).utcoffset() == timedelta(hours=1)
    with pytest.raises(ConfigError, match="job.bad: no trigger"):
        parse_job("bad", " ; verify")
