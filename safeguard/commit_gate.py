"""The health checks that decide whether a run's transaction commits.

When a run's undo is its transaction (undo.py), the checks must judge the migrated
database before anything is committed. env.py, unmodified, runs

    with context.begin_transaction():      # the run's one transaction
        context.run_migrations()            # for step in fn(heads, context): ...

and Alembic draws each revision from the function safeguard hands it (Project.apply_run).
After the last revision has run and been stamped, Alembic asks that function for the
next one: that is where the gate runs the checks, on the migration's own connection,
still inside the transaction. A failure raises `ChecksFailed`, which leaves
run_migrations() and env.py's ``with`` block, so Alembic rolls the whole run back;
when the checks pass, env.py commits as it always does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import health
from .health import HealthReport
from .journal import Operation


class ChecksFailed(Exception):
    """Raised through env.py to roll the run back: a health check failed before the commit."""


@dataclass
class CommitGate:
    """Called by Project.apply_run with the MigrationContext once every revision ran."""

    #: Builds the checks' context around the migration's connection.
    context_for: Callable[[Any], health.CheckContext]
    op: Operation
    report: HealthReport | None = None

    def __call__(self, migration_context: Any) -> None:
        ctx = self.context_for(migration_context.connection)
        with self.op.step("check", inside="transaction") as outcome:
            self.report = health.run_checks(ctx)
            outcome["ok"] = self.report.ok
        if not self.report.ok:
            raise ChecksFailed(self.report.summary())
