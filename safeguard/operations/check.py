"""`safeguard check`: the health checks (health.py), against the database as it is now."""

from __future__ import annotations

from .. import health
from ..config import Settings
from ..workspace import Workspace


def check(settings: Settings) -> health.HealthReport:
    """Run every health check against the database as it is now."""
    ws = Workspace(settings)
    state = ws.database(check_known=False)
    ctx = health.CheckContext(backend=ws.backend(state), project=ws.project, settings=settings,
                              database=state)
    return health.run_checks(ctx)
