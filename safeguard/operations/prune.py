"""`safeguard snapshot prune`: the retention policy applied to every snapshot of the
store, the remote and the server (pruning.py does the work)."""

from __future__ import annotations

from datetime import datetime, timezone

from ..config import Settings
from ..errors import SafeguardError
from ..inventory import locate
from ..pruning import decisions, prune_held
from ..reporting import Reporter, silent
from ..retention import Decision
from ..workspace import Workspace


def prune(settings: Settings, *, now: datetime | None = None, dry_run: bool = False,
          report: Reporter = silent) -> list[Decision]:
    """Apply the retention policy: delete what no rule keeps (nothing with dry_run)."""
    ws = Workspace(settings)
    now = now or datetime.now(timezone.utc)
    if dry_run:
        try:
            backend = ws.backend(ws.database(check_known=False))
        except SafeguardError:  # the store and the remote can still be decided on
            backend = None
        return decisions(ws, list(locate(settings, backend).located), now)
    backend = ws.backend(ws.database(check_known=False))
    # Under the lock: a snapshot being taken, or a migration's, is never pruned mid-way.
    with ws.operation("prune", backend, check_unfinished=False):
        return prune_held(ws, backend, now, report=report)
