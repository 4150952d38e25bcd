"""The plan: which revisions run, what each can do to the data, and whether to
snapshot first.

The snapshot, when one is needed, is taken before the first revision of the run, not
merely before the first destructive one: a restore then returns the database to
exactly where it was before the command started, never to a state in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .classify import Classification, classify_file
from .project import Project
from .revisions import DatabaseState, Step


@dataclass(frozen=True)
class PlannedStep:
    """One pending revision with the classifier's judgement of it."""

    step: Step
    classification: Classification

    @property
    def destructive(self) -> bool:
        return self.classification.is_destructive

    def to_dict(self) -> dict[str, Any]:
        c = self.classification
        return {
            "revision": self.step.revision,
            "down_revision": self.step.down_revision,
            "direction": self.step.direction,
            "doc": self.step.doc,
            "path": self.step.path,
            "verdict": c.verdict,
            "findings": [f.to_dict() for f in c.findings],
            "acknowledged": c.to_dict().get("acknowledged"),
        }


@dataclass(frozen=True)
class Plan:
    """What a guarded upgrade or downgrade is going to do."""

    database: DatabaseState
    direction: str
    target: str
    steps: tuple[PlannedStep, ...]
    expected_heads: tuple[str, ...]
    policy: str
    snapshot: bool
    snapshot_reason: str | None
    database_size: int

    @property
    def first_destructive(self) -> PlannedStep | None:
        return next((p for p in self.steps if p.destructive), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database.display_url,
            "current": list(self.database.heads),
            "target": self.target,
            "direction": self.direction,
            "expected_heads": list(self.expected_heads),
            "policy": self.policy,
            "snapshot": self.snapshot,
            "snapshot_reason": self.snapshot_reason,
            "database_size": self.database_size,
            "steps": [p.to_dict() for p in self.steps],
        }


def make_plan(
    project: Project,
    database: DatabaseState,
    *,
    target: str,
    direction: str,
    policy: str,
    database_size: int,
    stoppable: bool = False,
) -> Plan:
    """Resolve the target, classify every pending revision, decide on a snapshot."""
    steps = project.steps(target, database.heads, direction)
    planned = tuple(
        PlannedStep(step, classify_file(step.path, direction=direction, dialect=database.dialect))
        for step in steps
    )
    snapshot, reason = _snapshot_decision(planned, policy, stoppable)
    return Plan(
        database=database,
        direction=direction,
        target=target,
        steps=planned,
        expected_heads=heads_after(database.heads, steps),
        policy=policy,
        snapshot=snapshot,
        snapshot_reason=reason,
        database_size=database_size,
    )


def _snapshot_decision(steps: Sequence[PlannedStep], policy: str,
                       stoppable: bool) -> tuple[bool, str | None]:
    """Whether to snapshot, and why. A run with a --timeout (``stoppable``) may be
    stopped half-way, so it always has a snapshot to go back to."""
    if not steps:
        return False, None
    if policy == "never":
        return False, "policy is 'never'"
    if policy == "always":
        return True, "policy is 'always'"
    first = next((p for p in steps if p.destructive), None)
    if first is None:
        if stoppable:
            return True, "the run has a --timeout, and a stopped run is restored"
        return False, "every pending revision is safe"
    codes = ", ".join(sorted({f.code for f in first.classification.findings})) or first.classification.verdict
    return True, f"{first.step.revision} is {first.classification.verdict} ({codes})"


def heads_after(heads: Sequence[str], steps: Sequence[Step]) -> tuple[str, ...]:
    """The revisions alembic_version should hold once ``steps`` have run, as Alembic's
    head maintenance does it: an upgrade replaces its parents, a downgrade restores them."""
    current = list(heads)
    for step in steps:
        parents = _as_tuple(step.down_revision)
        if step.direction == "upgrade":
            current = [h for h in current if h not in parents]
            if step.revision not in current:
                current.append(step.revision)
        else:
            current = [h for h in current if h != step.revision]
            current.extend(p for p in parents if p not in current)
    return tuple(current)


def _as_tuple(revs: str | Sequence[str] | None) -> tuple[str, ...]:
    if revs is None:
        return ()
    if isinstance(revs, str):
        return (revs,)
    return tuple(revs)
