"""The classifier's answer for one revision file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from safeguard.classify.codes import SAFE, Verdict

if TYPE_CHECKING:
    from safeguard.revisions import Direction


@dataclass(frozen=True)
class Finding:
    """One reason a revision can lose or rewrite data."""

    code: str
    #: Names the table (and column), e.g. "drops column properties.legacy_owner_notes".
    message: str
    #: 1-based line in the revision file.
    line: int

    def to_dict(self) -> dict:
        """The lint JSON shape: ``{"code", "message", "line"}``."""
        return {"code": self.code, "message": self.message, "line": self.line}


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

    @property
    def is_destructive(self) -> bool:
        """True unless the verdict is ``safe``: ``unknown`` fails safe."""
        return self.verdict != SAFE

    @property
    def acknowledged(self) -> bool:
        """True when the file carries a ``safeguard`` acknowledgement."""
        return self.acknowledgement is not None

    @property
    def codes(self) -> frozenset[str]:
        """The distinct finding codes."""
        return frozenset(f.code for f in self.findings)

    def to_dict(self) -> dict:
        """The lint JSON shape for one revision, plus the acknowledgement (or None)."""
        return {
            "path": self.path,
            "revision": self.revision,
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "acknowledged": self.acknowledgement.to_dict() if self.acknowledgement else None,
        }
