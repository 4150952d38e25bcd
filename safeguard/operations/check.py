"""`safeguard check`: the health checks (health.py), against the database as it is now."""

from __future__ import annotations

from dataclasses import replace

from .. import health, preconditions
from ..config import Settings
from ..workspace import Workspace


def check(settings: Settings) -> health.HealthReport:
    """Run every health check against the database as it is now, and check what a
    snapshot of it and its restore need (``report.preconditions``: preconditions.py)."""
    ws = Workspace(settings)
    state = ws.database(check_known=False)
    backend = ws.backend(state)
    ctx = health.CheckContext(backend=backend, project=ws.project, settings=settings,
                              database=state)
    report = health.run_checks(ctx)
    return replace(report, preconditions=preconditions.of_database(ws, backend))
