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

A line that cannot be read is one of two things. A crash cut short the line being
written: what is left is printable ASCII beginning as every line begins (`json.dumps`
escapes everything else), it is skipped as it always was, and the operation it
belonged to reads as interrupted there. Anything else is damage (bytes that are not
text, text that is not JSON, JSON that is not an object: a disk error, a hand edit): it
is skipped too, with one warning per command, and it casts a doubt on every operation
begun before it that has no end line (the damaged line may have been that end), and on
steps after it whose begin line is lost. Such an operation is `doubt`-ful: `recover`
will not act on it (completing a restore that had in fact finished would restore it
again over everything written since); a person checks, then `recover --abandon`. A
journal that is not a file (a directory, a FIFO) is refused in one line.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from . import faults
from .durable import FILE_MODE, make_dir, write_all
from .errors import JournalDamagedError, JournalError

log = logging.getLogger(__name__)

JOURNAL = "journal.jsonl"
#: How every line begins (see Journal.append): what a cut-off line still shows.
LINE_START = b'{"ts": "'


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
    #: Why the journal cannot say whether it finished (a damaged line where its end
    #: may have been, or its begin line lost), if it cannot; see the module doc.
    doubt: str | None = None

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
        #: The damaged lines (numbered from 1) the last read found.
        self.damaged: tuple[int, ...] = ()
        self._warned: tuple[int, ...] = ()

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
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                         | os.O_NONBLOCK, FILE_MODE)
            try:
                self._refuse_unless_file(os.fstat(fd))
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
        """Every entry, oldest first; lines cut short by a crash and damaged lines are
        skipped (see the module doc)."""
        return [entry for _, entry in self._numbered()]

    def _numbered(self) -> list[tuple[int, dict[str, Any]]]:
        """Every entry with its line number; ``damaged`` set, and warned about once."""
        try:
            # Never opened unless a regular file: opening a FIFO for reading would hang.
            self._refuse_unless_file(os.lstat(self.path))
        except FileNotFoundError:
            self.damaged = ()
            return []
        except OSError as exc:
            raise JournalDamagedError(f"the journal {self.path} cannot be read: "
                                      f"{exc.strerror or exc}") from exc
        out, damaged = [], []
        try:
            with open(self.path, "rb") as reader:
                for number, raw in enumerate(reader, 1):
                    entry = _entry(raw)
                    if entry is not None:
                        out.append((number, entry))
                    elif not _cut_short(raw):
                        damaged.append(number)
        except OSError as exc:
            raise JournalDamagedError(f"the journal {self.path} cannot be read: "
                                      f"{exc.strerror or exc}") from exc
        self.damaged = tuple(damaged)
        if self.damaged and self.damaged != self._warned:
            self._warned = self.damaged
            more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
            log.warning("the journal %s: line %d%s is damaged (not a JSON object) and was skipped",
                        self.path, damaged[0], more)
        return out

    def _refuse_unless_file(self, found: os.stat_result) -> None:
        if not stat.S_ISREG(found.st_mode):
            raise JournalDamagedError(
                f"the journal {self.path} is {_file_kind(found.st_mode)}, not a file: nothing "
                "was done; move it aside (safeguard starts a new journal) or put the journal "
                "file back")

    def operations(self) -> list[OperationRecord]:
        """The entries grouped by operation, oldest first; an unfinished one that a
        damaged line may concern carries its ``doubt`` (see the module doc)."""
        ops: dict[str, OperationRecord] = {}
        begun_at: dict[str, int] = {}
        lost: dict[str, OperationRecord] = {}  # lines whose begin is not in the journal
        numbered = self._numbered()
        damaged = self.damaged
        for number, entry in numbered:
            op_id = entry.get("op")
            if not isinstance(op_id, str):
                continue  # not an operation's line
            event = entry.get("event")
            if event == "begin":
                ops[op_id] = OperationRecord(op_id, str(entry.get("kind", "?")), entry)
                begun_at[op_id] = number
                continue
            record = ops.get(op_id)
            if record is None:
                before = [n for n in damaged if n < number]
                if event not in ("step", "end") or not before:
                    continue  # a note, or a line of an operation begun before the journal was
                record = lost.setdefault(op_id, OperationRecord(
                    op_id, "?", {}, doubt=f"its first line is lost (journal line {before[-1]} "
                                          "is damaged)"))
            if event == "end":
                record.end = entry
            else:
                record.steps.append(entry)
        for op_id, record in ops.items():
            after = [n for n in damaged if n > begun_at[op_id]]
            if not record.finished and after:
                record.doubt = (f"journal line {after[0]} is damaged: it may have been its end "
                                "line")
        return list(ops.values()) + [r for r in lost.values() if not r.finished]

    def resume(self, record: OperationRecord) -> "Operation":
        """An operation read back from the journal, to write its remaining lines (the
        end line recovery gives an interrupted one)."""
        return Operation(self, record.id, record.kind)

    def unfinished(self, database: str | None = None) -> list[OperationRecord]:
        """Operations that began and never ended (for one database, if given: an
        operation whose begin line is lost may have been any database's)."""
        return [op for op in self.operations()
                if not op.finished and (database is None or not op.begun
                                        or op.begun.get("database") == database)]


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


def _entry(raw: bytes) -> dict[str, Any] | None:
    """The line's entry, or None if it is not a JSON object."""
    try:
        entry = json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        return None
    return entry if isinstance(entry, dict) else None


def _cut_short(raw: bytes) -> bool:
    """Whether an unreadable line is what a crash mid-write leaves: the start of a line
    as `Journal.append` writes them (printable ASCII, every other byte escaped)."""
    text = raw.rstrip(b"\n")
    return text.startswith(LINE_START) and all(0x20 <= byte < 0x7F for byte in text)


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISLNK, "a symbolic link"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a device"
