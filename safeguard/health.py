"""Health checks: decide whether a migrated database is kept or restored.

Each check is a plain function that takes a `CheckContext` and returns `(passed,
detail)`; raising means the check could not run, which is reported as an error and
counts as a failure, because a check that did not run proved nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .backends import Backend
from .project import Project, format_revs

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    status: str
    duration: float
    detail: str

    @property
    def ok(self) -> bool:
        return self.status in (PASSED, SKIPPED)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status,
                "duration": round(self.duration, 4), "detail": self.detail}


@dataclass(frozen=True)
class HealthReport:
    """Every check's result; the database is healthy when none failed or errored."""

    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    def summary(self) -> str:
        """One line naming what failed, in words a person can act on."""
        if self.ok:
            return f"all {len(self.results)} checks passed"
        return "; ".join(f"{r.name} {r.status}: {r.detail}" for r in self.failures)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [r.to_dict() for r in self.results]}


@dataclass(frozen=True)
class CheckContext:
    """What a check may look at."""

    backend: Backend
    project: Project
    #: The revisions the database must be at; None when any single head will do.
    expected_heads: tuple[str, ...] | None = None
    quick_integrity: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


Check = Callable[[CheckContext], "tuple[bool, str]"]


def integrity(ctx: CheckContext) -> tuple[bool, str]:
    """The engine's own integrity checks (SQLite: integrity_check or quick_check, and
    foreign_key_check). A migration that rebuilt a table can leave rows pointing at
    nothing; the application finds out much later, the check finds out now."""
    problems = ctx.backend.integrity_problems(quick=ctx.quick_integrity)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return False, f"{problems[0]}{more}"
    return True, "no problems found"


def revision(ctx: CheckContext) -> tuple[bool, str]:
    """The database is at the revision the run aimed for, and Alembic agrees on it:
    a migration that raised inside env.py's error handling, or a revision file edited
    after being applied, shows up here."""
    heads = ctx.project.database(check_known=False).heads
    if ctx.expected_heads is not None:
        if set(heads) != set(ctx.expected_heads):
            return False, (f"database is at {format_revs(heads)}, expected {format_revs(ctx.expected_heads)}")
        return True, f"at {format_revs(heads)}"
    script_heads = ctx.project.heads()
    if len(script_heads) > 1:
        return False, f"the scripts have {len(script_heads)} heads: {format_revs(script_heads)}"
    return True, f"at {format_revs(heads)}"



BUILTIN_CHECKS: tuple[tuple[str, Check], ...] = (
    ("integrity", integrity),
    ("revision", revision),
)


def run_checks(ctx: CheckContext, checks: Sequence[tuple[str, Check]] = BUILTIN_CHECKS) -> HealthReport:
    """Run every check, each timed; an exception is that check's error, not a crash."""
    results = []
    for name, check in checks:
        started = time.perf_counter()
        try:
            passed, detail = check(ctx)
            status = PASSED if passed else FAILED
        except Exception as exc:  # a check that cannot run is an error, never a pass
            status, detail = ERROR, f"could not run: {type(exc).__name__}: {exc}"
        results.append(CheckResult(name, status, time.perf_counter() - started, detail))
    return HealthReport(tuple(results))
