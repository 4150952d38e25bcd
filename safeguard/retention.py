"""Retention: which snapshots to keep, as a pure function of the list and `now`.

The policy teams already run by hand: keep the newest N; keep the newest snapshot of
each of the last D days, W ISO weeks and M months that have snapshots (grandfather,
father, son); prune anything older than a maximum age. Some snapshots are never
pruned, whatever the policy says: pinned ones, and those the journal says are still
needed (`needed_by`): the snapshot taken before each database's most recent migration
(the one you would restore if that migration turns out bad), the safety snapshot of its
most recent restore (the state that restore replaced, which it promised to keep), and
every snapshot an unfinished operation names (what `recover` will restore).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Sequence

from .journal import OperationRecord
from .manifest import Snapshot


@dataclass(frozen=True)
class RetentionPolicy:
    """How many snapshots to keep, by rule. Zero turns a rule off."""

    keep_last: int = 10
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 12
    max_age_days: int | None = None

    @classmethod
    def of(cls, settings: Any) -> "RetentionPolicy":
        """The policy ``settings`` (a config.Settings) sets: its keys of the same names."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Decision:
    """Keep or prune one snapshot, and every rule that decided it."""

    snapshot: Snapshot
    keep: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"id": self.snapshot.id, "keep": self.keep, "reasons": list(self.reasons)}


def decide(
    snapshots: Sequence[Snapshot],
    now: datetime,
    policy: RetentionPolicy,
    *,
    protected: Iterable[str] = (),
) -> list[Decision]:
    """Decide every snapshot's fate, newest first. Never reads the clock or the disk."""
    newest_first = sorted(snapshots, key=lambda s: (s.created, s.id), reverse=True)
    reasons: dict[str, list[str]] = {s.id: [] for s in newest_first}
    protected = set(protected)

    for s in newest_first[: policy.keep_last]:
        reasons[s.id].append("last")
    for rule, count, bucket in (
        ("daily", policy.keep_daily, lambda t: t.date().isoformat()),
        ("weekly", policy.keep_weekly, lambda t: "%d-W%02d" % t.isocalendar()[:2]),
        ("monthly", policy.keep_monthly, lambda t: t.strftime("%Y-%m")),
    ):
        for s in _newest_per_bucket(newest_first, bucket, count):
            reasons[s.id].append(rule)

    too_old = now - timedelta(days=policy.max_age_days) if policy.max_age_days else None
    decisions = []
    for s in newest_first:
        rules, prune_reason = reasons[s.id], "matched no rule"
        if too_old and s.created < too_old:
            rules, prune_reason = [], f"older than {policy.max_age_days} days"
        guards = (["pinned"] if s.pinned else []) + (
            ["still needed (last migration, last restore or unfinished operation)"]
            if s.id in protected else [])
        kept_by = guards + rules
        decisions.append(Decision(s, bool(kept_by), tuple(kept_by) or (prune_reason,)))
    return decisions


def _newest_per_bucket(newest_first: Sequence[Snapshot], bucket: Callable[[datetime], str],
                       count: int) -> list[Snapshot]:
    """The newest snapshot of each of the ``count`` most recent buckets."""
    chosen: list[Snapshot] = []
    seen: set[str] = set()
    for s in newest_first:
        if len(chosen) >= count:
            break
        key = bucket(s.created)
        if key not in seen:
            seen.add(key)
            chosen.append(s)
    return chosen


#: Per kind of operation, the step whose snapshot stays needed after its latest run.
_KEPT_STEP = {"upgrade": "snapshot", "downgrade": "snapshot", "restore": "safety-snapshot"}


def needed_by(operations: Sequence[OperationRecord]) -> set[str]:
    """The snapshots the journal's operations still need (see the module doc), read
    from ``operations`` oldest first."""
    latest: dict[tuple[str, str], str] = {}
    needed: set[str] = set()
    for op in operations:
        step = _KEPT_STEP.get(op.kind)
        entry = op.last_done(step) if step else None
        if entry and isinstance(entry.get("snapshot"), str):
            latest[(str(op.begun.get("database", "")), op.kind)] = entry["snapshot"]
        if not op.finished:
            named = [op.begun.get("snapshot"), *(e.get("snapshot") for e in op.steps)]
            needed.update(s for s in named if isinstance(s, str))
    return needed | set(latest.values())
