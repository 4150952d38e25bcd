"""How a failed run is undone: by a snapshot, or by the run's own transaction.

Whatever fails in a guarded run (a revision raises, `--timeout` stops it, a health
check fails), the database must end as it was before the run. Two mechanisms can
promise that, and the plan names the one each run relies on:

- ``snapshot``: a verified copy taken before the first revision is restored.
- ``transaction``: every revision of the run and every health check run inside one
  database transaction, committed only after the checks passed; a failure anywhere
  before the commit is rolled back by the database itself. Only PostgreSQL can do
  this, and only when nothing in the run steps outside that transaction.

SQLite always gets a snapshot: pysqlite commits DDL statement by statement under
Alembic, and batch mode rebuilds tables through ``_alembic_tmp_*``, so a failed run
cannot be rolled back there. ``policy = never`` gives the undo up (``none``): a failed
run is left as it failed, and the report says where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

SNAPSHOT, TRANSACTION, NONE = "snapshot", "transaction", "none"


@dataclass(frozen=True)
class Undo:
    """The mechanism that undoes this run if it fails, and why it was chosen."""

    by: str  # snapshot | transaction | none
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"by": self.by, "reason": self.reason}


@dataclass(frozen=True)
class EnvTransaction:
    """How the project's env.py wraps a run, as its configured MigrationContext says:
    ``whole_run`` when Alembic's own transaction is open around ``run_migrations()``
    (transactional DDL, no ``transaction_per_migration``), else why not."""

    whole_run: bool
    why_not: str | None = None


def env_transaction(context: Any) -> EnvTransaction:
    """Read the MigrationContext env.py configured, from inside ``run_migrations()``
    (where the probe's function is called): the transaction env.py's
    ``with context.begin_transaction():`` opened is then either there or not."""
    if context.opts.get("transaction_per_migration"):
        return EnvTransaction(False, "env.py sets transaction_per_migration=True: each revision "
                                     "commits on its own")
    if not context.impl.transactional_ddl:
        return EnvTransaction(False, "env.py runs without transactional DDL")
    if getattr(context, "_in_external_transaction", False):
        return EnvTransaction(False, "env.py runs the migrations inside a transaction of its own, "
                                     "not context.begin_transaction()")
    if getattr(context, "_transaction", None) is None:
        return EnvTransaction(False, "env.py does not call run_migrations() inside "
                                     "context.begin_transaction()")
    driver = context.connection.dialect.driver if context.connection is not None else None
    if driver != "psycopg":
        return EnvTransaction(False, f"env.py connects through the {driver} driver; the checks run "
                                     "inside the run's transaction through psycopg")
    return EnvTransaction(True)


def decide(steps: Sequence[Any], *, policy: str, dialect: str, env: EnvTransaction | None,
           stoppable: bool, own_connection_checks: Sequence[str]) -> Undo:
    """The undo of a run of ``steps`` (PlannedSteps, in order).

    A snapshot whenever the transaction cannot hold everything: a destructive or
    unknown revision (its undo must not depend on the classifier being right about the
    rest), a statement the transaction cannot hold, an env.py that does not run the
    whole run in one transaction, a ``--timeout`` (a stopped run is restored), or a
    check that opens its own connection and so can only run after the commit."""
    if not steps:
        return Undo(NONE, "nothing to do")
    if policy == "never":
        return Undo(NONE, "policy is 'never': a failed run is left as it failed")
    if policy == "always":
        return Undo(SNAPSHOT, "policy is 'always'")
    for planned in steps:
        c = planned.classification
        if c.is_destructive:
            codes = ", ".join(sorted({f.code for f in c.findings if f.kind != "may-fail"}))
            return Undo(SNAPSHOT, f"{planned.step.revision} is {c.verdict} ({codes or c.verdict})")
    if dialect != "postgresql":
        name = {"sqlite": "SQLite", "mysql": "MySQL", "mariadb": "MariaDB"}.get(dialect, dialect)
        return Undo(SNAPSHOT, f"{name} commits DDL statement by statement: only a snapshot "
                              "undoes a run")
    for planned in steps:
        notes = planned.classification.outside_transaction
        if notes:
            return Undo(SNAPSHOT, f"{planned.step.revision} runs outside the run's transaction "
                                  f"(line {notes[0].line}: {notes[0].message})")
    if env is None or not env.whole_run:
        return Undo(SNAPSHOT, env.why_not if env and env.why_not
                    else "env.py's transaction mode is not known")
    if stoppable:
        return Undo(SNAPSHOT, "the run has a --timeout: a stopped run is restored from a snapshot")
    if own_connection_checks:
        return Undo(SNAPSHOT, f"the {', '.join(own_connection_checks)} check opens its own "
                              "connection, so it can only run after the commit")
    return Undo(TRANSACTION, "env.py runs the whole run in one transaction; the health checks "
                             "run inside it, before the commit")
