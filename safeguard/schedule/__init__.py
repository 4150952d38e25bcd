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

This is the only package that imports APScheduler. The jobs are rebuilt from the
configuration at each start and kept in memory; only their next run times are kept on
disk, as JSON (`<store>/schedule.json`, see jobtimes.py: nothing in the store is ever
unpickled), so a restart keeps them. A job's arguments are three strings: the config
path, the job name and its canonical spec. Never the database URL, which may carry a
password: the running scheduler supplies its own settings.
"""

from .jobs import Job, command_line_job, configured_jobs, parse_duration, parse_job
from .run import RunResult, last_runs, run_job, run_once, run_scheduled_job
from .scheduler import serve
from .status import JobStatus, ScheduleStatus, status

__all__ = [
    "Job", "JobStatus", "RunResult", "ScheduleStatus", "command_line_job", "configured_jobs",
    "last_runs", "parse_duration", "parse_job", "run_job", "run_once", "run_scheduled_job",
    "serve", "status",
]
