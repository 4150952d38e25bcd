"""The journal: an append-only record of every operation and each of its steps.

Each line of `journal.jsonl` is one JSON object, written and fsynced *before* the step
it announces happens; another line gives the outcome after it. A crash at any instant
therefore leaves either a finished operation or one whose last started step says
exactly what was in flight; `safeguard recover` reads that and finishes the job.

Only the lines that announce something (an operation's begin and end, a step
starting) are fsynced; a step's outcome line is written and left to the next fsync,
which always comes (the next step, or the end) before anything else changes. Losing an
outcome line to a power cut leaves the journal as a crash just before writing it
would, a state recovery handles anyway; a killed process loses nothing (the line is in
the page cache). Half the fsyncs of a run, one per revision applied.

    {"ts": ..., "op": "<op id>", "kind": "upgrade", "event": "begin", ...facts}
    {"ts": ..., "op": "<op id>", "event": "step", "step": "snapshot", "status": "started"}
    {"ts": ..., "op": "<op id>", "event": "step", "step": "snapshot", "status": "done", "snapshot": "<id>"}
    {"ts": ..., "op": "<op id>", "event": "end", "outcome": "migrated"}
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from . import faults
from .durable import FILE_MODE, make_dir, write_all
from .errors import JournalError

log = logging.getLogger(__name__)

JOURNAL = "journal.jsonl"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class OperationRecord:
    """One operation as read back from the journal."""

    id: str
    kind: str
    begun: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.end is not None

    def last_done(self, step: str) -> dict[str, Any] | None:
        """The latest completed entry of a step, if any."""
        for entry in reversed(self.steps):
            if entry.get("step") == step and entry.get("status") == "done":
                return entry
        return None

    def in_flight(self) -> dict[str, Any] | None:
        """The step that started and never reported an outcome, if any."""
        open_steps: dict[str, dict[str, Any]] = {}
        for entry in self.steps:
            key = f"{entry.get('step')}:{entry.get('revision', '')}"
            if entry.get("status") == "started":
                open_steps[key] = entry
            else:
                open_steps.pop(key, None)
        return next(reversed(open_steps.values()), None) if open_steps else None


def _after_torn_line(fd: int, line: bytes) -> bytes:
    """``line``, preceded by a newline if the journal ends in a torn line (a crash or a
    full disk cut the last write short): appended to the fragment, it would be
    unreadable too, and an operation's end could vanish with it."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        return b"\n" + line
    return line


class Journal:
    """The journal file of one snapshot store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / JOURNAL

    def begin(self, kind: str, **facts: Any) -> "Operation":
        """Start an operation; its begin line is on disk when this returns."""
        operation = Operation(self, f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}", kind)
        self.append({"op": operation.id, "kind": kind, "event": "begin", "pid": os.getpid(), **facts})
        return operation

    def append(self, entry: dict[str, Any], *, durable: bool = True) -> None:
        """Append one line; ``durable``: fsync it (with every line before it), for a
        line that must be on disk before the step it announces runs."""
        line = json.dumps({"ts": _now(), **entry}, default=str, sort_keys=False) + "\n"
        log.debug("journal: %s", line.rstrip())
        try:
            make_dir(self.root)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
                write_all(fd, memoryview(_after_torn_line(fd, line.encode())))
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            # No step may run unjournaled: the operation stops here, and `recover`
            # settles it from the lines already on disk.
            raise JournalError(
                f"cannot write the journal {self.path}: {exc.strerror or exc}; the operation "
                "stopped before its next step; run `safeguard recover` once the store is "
                "writable again"
            ) from exc
        if entry.get("event") == "step":
            faults.point(f"journal:{entry['step']}:{entry['status']}")

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first. A torn last line (a crash mid-write) is skipped."""
        if not self.path.is_file():
            return []
        out = []
        with open(self.path, encoding="utf-8") as reader:
            for line in reader:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def operations(self) -> list[OperationRecord]:
        """The entries grouped by operation, oldest first."""
        ops: dict[str, OperationRecord] = {}
        for entry in self.entries():
            op_id = entry.get("op")
            if entry.get("event") == "begin":
                ops[op_id] = OperationRecord(op_id, entry.get("kind", "?"), entry)
            elif op_id in ops:
                if entry.get("event") == "end":
                    ops[op_id].end = entry
                else:
                    ops[op_id].steps.append(entry)
        return list(ops.values())

    def resume(self, record: OperationRecord) -> "Operation":
        """An operation read back from the journal, to write its remaining lines (the
        end line recovery gives an interrupted one)."""
        return Operation(self, record.id, record.kind)

    def unfinished(self, database: str | None = None) -> list[OperationRecord]:
        """Operations that began and never ended (for one database, if given)."""
        return [op for op in self.operations()
                if not op.finished and (database is None or op.begun.get("database") == database)]


class Operation:
    """A running operation: each step is journaled before and after it runs."""

    def __init__(self, journal: Journal, op_id: str, kind: str) -> None:
        self.journal = journal
        self.id = op_id
        self.kind = kind
        #: Whether this process wrote the operation's end line.
        self.finished = False

    def record(self, step: str, status: str, *, durable: bool | None = None, **facts: Any) -> None:
        """A step's line; by default only 'started' must be on disk before anything
        else happens (see the module docstring)."""
        self.journal.append({"op": self.id, "event": "step", "step": step, "status": status, **facts},
                            durable=status == "started" if durable is None else durable)

    @contextmanager
    def step(self, name: str, **facts: Any) -> Iterator[dict[str, Any]]:
        """Journal a step: 'started' now, then 'done' (with any facts the body adds to
        the yielded dict) or 'failed' with the error."""
        self.record(name, "started", **facts)
        outcome: dict[str, Any] = {}
        try:
            yield outcome
        except BaseException as exc:
            self.record(name, "failed", **facts, error=f"{type(exc).__name__}: {exc}")
            raise
        self.record(name, "done", **facts, **outcome)

    def finish(self, outcome: str, **facts: Any) -> None:
        """Close the operation: after this line, recovery has nothing left to do."""
        self.journal.append({"op": self.id, "event": "end", "outcome": outcome, **facts})
        self.finished = True
