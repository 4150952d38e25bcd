"""`safeguard snapshot verify`: the checksum, then a test restore into a scratch
database; the live database is not touched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..durable import close_progress
from ..errors import VerificationError
from ..reporting import ProgressFactory, no_progress
from ..store import Snapshot
from ..workspace import Workspace


@dataclass(frozen=True)
class VerifyResult:
    """`snapshot verify`: the checksum, then a test restore into a scratch database."""

    snapshot: Snapshot
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot.id, "ok": self.ok, "problems": list(self.problems)}


def verify_snapshot(settings: Settings, snapshot_id: str, *,
                    progress: ProgressFactory = no_progress,
                    allow_unauthenticated: bool = False) -> VerifyResult:
    """Re-hash the snapshot, restore it into a scratch database and check it there;
    VerificationError (carrying the result) when anything is wrong. A remote snapshot
    that is not authenticated is refused unless ``allow_unauthenticated`` (a test
    restore runs its payload: a dump can hold any SQL)."""
    ws = Workspace(settings)
    state = ws.database(check_known=False)
    backend = ws.backend(state)
    snapshot = ws.snapshot(snapshot_id, backend,  # from the remote when not here
                           allow_unauthenticated=allow_unauthenticated)
    if snapshot.engine != backend.engine:
        raise VerificationError(f"snapshot {snapshot.id} is a {snapshot.engine} snapshot; "
                                f"this project's database is {backend.engine}")
    bar = progress("Verify", snapshot.size)
    try:
        ws.store.verify_checksum(snapshot, progress=bar)
        problems = backend.verify_payload(ws.store.path_of(snapshot.id), snapshot)
    finally:
        close_progress(bar)
    result = VerifyResult(snapshot=snapshot, problems=tuple(problems))
    ws.journal.append({"op": "-", "kind": "verify", "event": "note", "snapshot": snapshot.id,
                       "ok": result.ok, "problems": list(problems)})
    if problems:
        raise VerificationError(f"snapshot {snapshot.id} does not verify: {problems[0]}",
                                report=result)
    return result
