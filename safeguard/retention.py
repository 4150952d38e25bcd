"""Retention: which snapshots to keep, as a pure function of the list and `now`.

The policy teams already run by hand: keep the newest N; keep the newest snapshot of
each of the last D days, W ISO weeks and M months that have snapshots (grandfather,
father, son); prune anything older than a maximum age. Some snapshots are never
pruned, whatever the policy says: pinned ones, and those the journal says are still
needed (`needed_by`): the snapshot taken before each database's most recent migration
(the one you would restore if that migration turns out bad), the safety snapshot of its
most recent restore (the state that restore replaced, which it promised to keep), and
every snapshot an unfinished operation names (what `recover` will restore).

Some snapshots do not count: neither as the newest (`latest`) nor toward any rule, so
they cannot push a real snapshot out; and they are never pruned either (`uncounted`):
one dated in the future beyond `CLOCK_SKEW` (planted, or taken by a host whose clock is
wrong: twelve of them would otherwise fill keep_last and delete every real snapshot),
and one read from the remote without a valid signature (signature.py), which may be
anyone's who can write the bucket, or a host's that has no key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Sequence

from .journal import OperationRecord
from .manifest import Snapshot

#: How far ahead of this machine's clock a snapshot may be dated and still count: hosts
#: sharing a remote keep their clocks within this of each other.
CLOCK_SKEW = timedelta(minutes=5)


def in_the_future(snapshot: Snapshot, now: datetime) -> bool:
    """Whether ``snapshot`` is dated later than ``now`` by more than the clock skew."""
    return snapshot.created > now + CLOCK_SKEW


def uncounted(snapshot: Snapshot, now: datetime) -> str | None:
    """Why ``snapshot`` counts neither as newest nor toward retention (see the module
    doc), or None when it counts."""
    if snapshot.unauthenticated:
        return "not authenticated: not counted, not deleted"
    if in_the_future(snapshot, now):
        return f"dated in the future ({snapshot.created_at}): not counted, not deleted"
    return None


def counted(snapshots: Iterable[Snapshot], now: datetime) -> list[Snapshot]:
    """The snapshots that count (`uncounted` says nothing against them)."""
    return [s for s in snapshots if uncounted(s, now) is None]


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
    """Decide every snapshot's fate, newest first. Never reads the clock or the disk.
    A snapshot that does not count (`uncounted`) is kept, and no rule sees it."""
    newest_first = sorted(counted(snapshots, now), key=lambda s: (s.created, s.id), reverse=True)
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
    for s in snapshots:
        why = uncounted(s, now)
        if why is not None:
            decisions.append(Decision(s, True, (why,)))
    return sorted(decisions, key=lambda d: (d.snapshot.created, d.snapshot.id), reverse=True)


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
