"""The user's verbs, one module per operation, each exposing one function that takes
`Settings` and returns a frozen result (as Alembic's `command.py`, cut by operation).

    migrate.py   plan, migrate, offline_sql: the guarded upgrade/downgrade (guard.py)
    snapshot.py  create_snapshot, list_snapshots, show_snapshot
    verify.py    verify_snapshot: checksum and a test restore
    prune.py     prune: the retention policy applied
    restore.py   restore: a manual restore, with a safety snapshot first
    recover.py   recover: finish (or abandon) what a crash interrupted
    stamp.py     stamp: set alembic_version, under the lock and in the journal
    check.py     check: the health checks now
    history.py   current, heads, history: Alembic's read commands
    log.py       journal: the operations the journal holds
    settings.py  effective_config: every setting and where it came from
    lint.py      lint, new_revision: the classifier over revision files
    schedule.py  the scheduled backups' entry points (APScheduler imported on use)

Every changing operation holds its database through `Workspace.operation` (the lock
and the journal's begin/finish lines); every restore goes through
`restore.restore_snapshot`. `safeguard.api` re-exports these functions; nothing below
this package imports it.
"""
