"""The classifier's answer for one revision file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .codes import MAY_FAIL, RESOLVED, SAFE, Verdict, kind_of

if TYPE_CHECKING:
    from ..revisions import Direction


@dataclass(frozen=True)
class Finding:
    """One reason a revision can lose or rewrite data, or may fail on existing data."""

    code: str
    #: Names the table (and column), e.g. "drops column properties.legacy_owner_notes".
    message: str
    #: 1-based line in the revision file.
    line: int
    #: Why the finding does not count towards the verdict, e.g. "safe: declared in
    #: alembic.ini [safeguard] lint_known"; None for a finding that counts.
    resolution: str | None = None

    @property
    def kind(self) -> str:
        """``destructive``, ``may-fail`` (a warning), ``unknown``, or ``resolved`` (kept
        in the findings, left out of the verdict: see ``resolution``)."""
        return RESOLVED if self.resolution else kind_of(self.code)

    @property
    def counts(self) -> bool:
        """True when the finding counts towards the verdict (it is not resolved)."""
        return self.resolution is None

    def to_dict(self) -> dict:
        """The lint JSON shape: ``{"code", "message", "line", "kind"}``, and
        ``"resolution"`` on a resolved finding."""
        found = {"code": self.code, "message": self.message, "line": self.line, "kind": self.kind}
        if self.resolution:
            found["resolution"] = self.resolution
        return found


@dataclass(frozen=True)
class Acknowledgement:
    """The revision author's ``safeguard = {...}`` note about destructiveness."""

    #: False: "this looks destructive but is not"; True: "yes, this is intended".
    destructive: bool
    reason: str
    line: int

    def to_dict(self) -> dict:
        """``{"destructive", "reason", "line"}``."""
        return {"destructive": self.destructive, "reason": self.reason, "line": self.line}


@dataclass(frozen=True)
class Classification:
    """Verdict and findings for one direction of one revision file."""

    path: str
    revision: str | None
    down_revision: str | tuple | None
    direction: Direction
    verdict: Verdict
    findings: tuple[Finding, ...]
    acknowledgement: Acknowledgement | None
    #: TX101 notes: what cannot run inside the run's transaction (see transaction.py).
    outside_transaction: tuple[Finding, ...] = ()

    @property
    def is_destructive(self) -> bool:
        """True unless the verdict is ``safe``: ``unknown`` fails safe."""
        return self.verdict != SAFE

    @property
    def may_fail(self) -> bool:
        """True when a finding predicts a failure on existing data (MF101/103/104/105)."""
        return any(f.code in MAY_FAIL and f.counts for f in self.findings)

    @property
    def acknowledged(self) -> bool:
        """True when the file carries a ``safeguard`` acknowledgement."""
        return self.acknowledgement is not None

    @property
    def codes(self) -> frozenset[str]:
        """The distinct codes of the findings that count (resolved ones left out)."""
        return frozenset(f.code for f in self.findings if f.counts)

    @property
    def resolved(self) -> tuple[Finding, ...]:
        """The findings kept in the report but left out of the verdict."""
        return tuple(f for f in self.findings if not f.counts)

    def to_dict(self) -> dict:
        """The lint JSON shape for one revision, plus the acknowledgement (or None)."""
        return {
            "path": self.path,
            "revision": self.revision,
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "may_fail": self.may_fail,
            "outside_transaction": [f.to_dict() for f in self.outside_transaction],
            "acknowledged": self.acknowledgement.to_dict() if self.acknowledgement else None,
        }
