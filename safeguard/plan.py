"""The plan: which revisions run, what each can do to the data, and how the run is
undone if it fails (a snapshot, or the run's own transaction: see undo.py).

The snapshot, when the undo is one, is taken before the first revision of the run, not
merely before the first destructive one: a restore then returns the database to
exactly where it was before the command started, never to a state in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from .classify import Classification, classify_file
from .project import Project
from .reporting import size_words
from .revisions import DatabaseState, Direction, Step, format_revs
from .undo import SNAPSHOT, Undo, decide

if TYPE_CHECKING:
    from .preconditions import Preconditions


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
            "may_fail": c.may_fail,
            "outside_transaction": [f.to_dict() for f in c.outside_transaction],
            "acknowledged": c.to_dict().get("acknowledged"),
        }


@dataclass(frozen=True)
class Plan:
    """What a guarded upgrade or downgrade is going to do."""

    database: DatabaseState
    direction: Direction
    target: str
    steps: tuple[PlannedStep, ...]
    expected_heads: tuple[str, ...]
    policy: str
    undo: Undo
    database_size: int
    #: What the undo needs, checked when the plan is shown (preconditions.of_plan).
    preconditions: Preconditions | None = None

    @property
    def snapshot(self) -> bool:
        """Whether the run takes a snapshot first (its undo is a snapshot)."""
        return self.undo.by == SNAPSHOT

    @property
    def snapshot_reason(self) -> str | None:
        """Why the run takes a snapshot, or why it takes none."""
        return self.undo.reason if self.steps else None

    def lines(self, *, detailed: bool = False) -> list[str]:
        """The plan as people read it, one line each: what a guarded run announces
        before it starts, or (``detailed``, `safeguard plan`) every finding and
        acknowledgement, and the snapshot's cost. The one place a plan is worded."""
        where = f"{self.database.display_url} at {format_revs(self.database.heads)}"
        if detailed:
            out = [f"Database {where}; {self.direction} to {self.target}: "
                   f"{len(self.steps)} pending revision(s)"]
        elif self.steps:
            out = [f"Database: {where}",
                   f"Plan: {self.direction} to {self.target}, {len(self.steps)} revision(s):"]
        else:
            return [f"Database: {where}"]
        for p in self.steps:
            c = p.classification
            line = f"  {p.step.arrow:<30} {c.verdict:<12} {p.step.doc}"
            if detailed:
                out.append(line + (f"  acknowledged: {c.acknowledgement.reason}" if c.acknowledgement else ""))
                out += [f"      {'warning: ' if f.kind == 'may-fail' else ''}{f.code} {f.message} "
                        f"(line {f.line})" for f in c.findings]
                out += [f"      {f.code} {f.message} (line {f.line})" for f in c.outside_transaction]
            else:
                codes = ", ".join(dict.fromkeys(f.code for f in c.findings))
                out.append(line + (f"  [{codes}]" if codes else ""))
        if detailed and self.snapshot:
            out.append(f"Undo: snapshot before the first revision, because {self.undo.reason}; "
                       f"about {size_words(self.database_size)} to copy")
        elif self.snapshot:
            out.append(f"Undo: snapshot ({self.undo.reason}), about {size_words(self.database_size)}")
        else:
            out.append(f"Undo: {self.undo.by} ({self.undo.reason or 'nothing to do'})")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database.display_url,
            "current": list(self.database.heads),
            "target": self.target,
            "direction": self.direction,
            "expected_heads": list(self.expected_heads),
            "policy": self.policy,
            "undo": self.undo.to_dict(),
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
    direction: Direction,
    policy: str,
    database_size: int,
    stoppable: bool = False,
    own_connection_checks: Sequence[str] = (),
) -> Plan:
    """Resolve the target, classify every pending revision, decide the run's undo.
    ``own_connection_checks`` names the configured checks that open a connection of
    their own (they cannot run inside the run's transaction)."""
    steps = project.steps(target, database.heads, direction)
    planned = tuple(
        PlannedStep(step, classify_file(step.path, direction=direction, dialect=database.dialect))
        for step in steps
    )
    undo = decide(planned, policy=policy, dialect=database.dialect, env=database.transaction,
                  stoppable=stoppable, own_connection_checks=own_connection_checks)
    return Plan(
        database=database,
        direction=direction,
        target=target,
        steps=planned,
        expected_heads=heads_after(database.heads, steps),
        policy=policy,
        undo=undo,
        database_size=database_size,
    )


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
