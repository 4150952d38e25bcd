"""`safeguard snapshot prune`: the retention policy (retention.py) applied to the store."""

from __future__ import annotations

from datetime import datetime, timezone

from ..config import Settings
from ..reporting import Reporter, silent
from ..retention import Decision, RetentionPolicy, decide
from ..workspace import Workspace


def prune(settings: Settings, *, now: datetime | None = None, dry_run: bool = False,
          report: Reporter = silent) -> list[Decision]:
    """Apply the retention policy: delete what no rule keeps (nothing with dry_run)."""
    ws = Workspace(settings)
    now = now or datetime.now(timezone.utc)
    policy = RetentionPolicy(settings.keep_last, settings.keep_daily, settings.keep_weekly,
                             settings.keep_monthly, settings.max_age_days)
    if dry_run:
        return decide(ws.store.list(), now, policy, protected=_protected(ws))
    backend = ws.backend(ws.database(check_known=False))
    # Under the lock: a snapshot being taken, or a migration's, is never pruned mid-way.
    with ws.operation("prune", backend, check_unfinished=False) as held:
        decisions = decide(ws.store.list(), now, policy, protected=_protected(ws))
        doomed = [d for d in decisions if not d.keep]
        if doomed:
            op = held.begin(of_database=False, snapshots=[d.snapshot.id for d in doomed])
            for d in doomed:
                with op.step("delete", snapshot=d.snapshot.id):
                    backend.discard(ws.store.path_of(d.snapshot.id), d.snapshot.to_dict())
                    ws.store.delete(d.snapshot.id)
                report(f"Pruned {d.snapshot.id} ({', '.join(d.reasons)})")
            op.finish("pruned", count=len(doomed))
    return decisions


def _protected(ws: Workspace) -> set[str]:
    """The snapshot taken before the most recent migration of each database."""
    latest: dict[str, str] = {}
    for op in ws.journal.operations():
        entry = op.last_done("snapshot")
        if op.kind in ("upgrade", "downgrade") and entry and entry.get("snapshot"):
            latest[op.begun.get("database", "")] = entry["snapshot"]
    return set(latest.values())
