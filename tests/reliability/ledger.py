"""What the fault tests did, summed over the run: faults injected, bad inputs tried,
restores performed, and data lost (which must stay zero), in all and by kind of fault.

Each test appends one JSON line to a file of its own worker (pytest-xdist runs tests in
several processes), in a directory the whole run shares; the controller sums the files
at the end. A test records before it asserts, so a run that lost data is counted even
though its test then fails.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any


@dataclass
class Tally:
    """Counts, for one test or summed over many."""

    tests: int = 0
    faults: int = 0  # faults that landed: a kill of a live process, a full disk, ...
    interrupts: int = 0  # of those, SIGINT/SIGTERM sent to a live run (not kills)
    missed: int = 0  # kills that came after the process had already exited
    bad_inputs: int = 0  # commands tried in a state where they must be refused
    refused: int = 0  # operations that stopped before changing anything and closed themselves
    restores: int = 0  # snapshots restored (by a failed run, a restore or recover)
    recoveries: int = 0  # `safeguard recover` runs that had something to do
    data_lost: int = 0  # runs whose database was neither state it may be in

    def add(self, other: "Tally") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class Ledger:
    """The run's ledger directory; ``worker`` names this process's file."""

    def __init__(self, directory: Path, worker: str) -> None:
        self.directory = directory
        self.path = directory / f"{worker}.jsonl"

    def record(self, test: str, tally: Tally, **facts: Any) -> None:
        """Append one test's counts (and any facts worth reading later)."""
        line = json.dumps({"test": test, **asdict(tally), **facts}, default=str) + "\n"
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())

    def entries(self) -> list[dict[str, Any]]:
        """Every line every worker wrote."""
        found = []
        for path in sorted(self.directory.glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    found.append(json.loads(line))
        return found

    def totals(self) -> Tally:
        """The counts summed over the run."""
        total = Tally()
        for entry in self.entries():
            total.add(Tally(**{f.name: entry.get(f.name, 0) for f in fields(Tally)}))
        return total

    def by_kind(self) -> dict[str, Tally]:
        """The counts per kind of fault: the ``kind`` a test recorded, else its module's
        name (``test_random_kills`` -> ``random kills``)."""
        kinds: dict[str, Tally] = {}
        for entry in self.entries():
            kind = entry.get("kind") or _module_kind(str(entry.get("test", "")))
            kinds.setdefault(kind, Tally()).add(
                Tally(**{f.name: entry.get(f.name, 0) for f in fields(Tally)}))
        return dict(sorted(kinds.items()))


def _module_kind(nodeid: str) -> str:
    stem = Path(nodeid.split("::", 1)[0]).stem
    return stem.removeprefix("test_").replace("_", " ")
