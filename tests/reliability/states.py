"""What a database holds, the journal's word on it, and recovery at most once.

After a fault the database must be exactly one of two states, the one before the run
or the one after it, compared table by table (every row) and by schema; the journal
must say which; and `safeguard recover` must be needed at most once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from conftest import schema_of, table_contents

from safeguard.journal import Journal, OperationRecord
from safeguard.store import SnapshotStore

#: Outcomes that leave the database as it was before the operation.
UNDONE = {"restored", "rolled-back", "aborted", "failed", "recovered: restored"}


def sqlite_state(project) -> dict[str, Any]:
    """Every row of every table, and the schema, of a project's SQLite file."""
    return {"schema": schema_of(project.db), "contents": table_contents(project.db)}


def error_line(stderr: str) -> str:
    """The one line that says what went wrong: exactly one `safeguard: error:` line and
    no traceback. (Alembic's own INFO lines from a health check's schema comparison
    may precede it even under -q.)"""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("safeguard: error:")]
    assert len(errors) == 1, f"expected one error line on stderr, got:\n{stderr}"
    return errors[0]


def sqlite_leftovers(project) -> list[str]:
    """Files a restore or a crash may leave beside the database."""
    return sorted(p.name for p in project.root.glob(f".{project.db.name}.safeguard-restore*"))


def store_leftovers(project) -> list[str]:
    """Half-written snapshots: temporary directories, or directories without a manifest."""
    return sorted(p.name for p in SnapshotStore(project.store).leftovers())


def differences(state: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """Which parts (and tables) of a state differ from a reference, for messages."""
    out = []
    for part in sorted(set(state) | set(reference)):
        mine, theirs = state.get(part), reference.get(part)
        if mine == theirs:
            continue
        if isinstance(mine, dict) and isinstance(theirs, dict):
            tables = sorted(t for t in set(mine) | set(theirs) if mine.get(t) != theirs.get(t))
            out.append(f"{part}: {', '.join(tables)}")
        else:
            out.append(part)
    return out


def which(state: dict[str, Any], references: dict[str, dict[str, Any] | None]) -> str | None:
    """The name of the reference the state equals exactly, or None."""
    for name, reference in references.items():
        if reference is not None and state == reference:
            return name
    return None


def last_operation(project, kinds: tuple[str, ...]) -> OperationRecord | None:
    """The newest operation of one of ``kinds`` in the project's journal."""
    ops = [op for op in Journal(project.store).operations() if op.kind in kinds]
    return ops[-1] if ops else None


def journal_says(record: OperationRecord | None, *, forward: str = "post") -> str:
    """'pre' or 'post': which state the journal says an operation left.

    No operation at all (killed before its first line) left the pre-run state. A
    recovery that only confirmed tells by the revision it found."""
    if record is None:
        return "pre"
    assert record.end is not None, f"operation {record.id} is still unfinished"
    outcome = record.end.get("outcome")
    if record.kind == "restore":
        # A manual restore goes forward to the snapshot; recover completes it.
        return forward if outcome in ("restored", "recovered: restored") else "pre"
    if outcome == "migrated":
        return forward
    if outcome in UNDONE:
        return "pre"
    assert outcome == "recovered: confirmed", f"unexpected outcome {outcome!r}"
    return "pre" if record.end.get("heads") == record.begun.get("heads") else forward


def restores_in(project) -> int:
    """Snapshots restored according to the journal: restore steps that completed, and
    recoveries that restored."""
    count = 0
    for op in Journal(project.store).operations():
        count += sum(1 for e in op.steps if e.get("step") == "restore" and e.get("status") == "done")
        count += bool(op.end and op.end.get("outcome") == "recovered: restored")
    return count


@dataclass
class Settled:
    """What settling after a fault took."""

    recoveries: int = 0
    recovered: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0


def settle(project, *, probe_refusal: Callable[[], None] | None = None) -> Settled:
    """Run `safeguard recover` if the journal shows an unfinished operation (once), then
    prove a second recover has nothing left to do."""
    settled = Settled()
    journal = Journal(project.store)
    pending = journal.unfinished()
    assert len(pending) <= 1, f"more than one unfinished operation: {[op.id for op in pending]}"
    if pending:
        if probe_refusal is not None:
            probe_refusal()
            settled.refused += 1
        result = project.cli("--json", "recover")
        settled.recovered = json.loads(result.stdout)["recovered"]
        settled.recoveries = 1
        assert [r["operation"] for r in settled.recovered] == [pending[0].id]
    assert journal.unfinished() == [], "recover left an operation unfinished"
    again = json.loads(project.cli("--json", "recover").stdout)["recovered"]
    assert again == [], f"a second recover still had work: {again}"
    return settled
