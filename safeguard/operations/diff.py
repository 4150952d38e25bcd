"""`safeguard diff ID`: what snapshot ID holds that the live database does not, and the
reverse, table by table (comparison.py), computed by the database on a beside copy of
the snapshot (operations/beside.py): the one a person restored beside, when it holds
the tables asked about; else a copy of the diff's own, made under the database's lock
as a journaled operation (kind "diff") and dropped when the comparison is done (a
crash leaves it to `recover`, which drops it).

`what_restore_discards` is the same comparison seen from `safeguard restore ID`: the
rows written since the snapshot, per table, that the restore would throw away. Exact
up to `EXACT_LIMIT` of snapshot (the copy costs about what a restore of it costs);
above, estimated from the row counts (the manifest's against the live ones), and
labelled so: a count that did not move may still hide rows inserted and deleted.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Collection, Iterator

from .. import interruption
from ..backends import Backend
from ..backends.beside import BesideCopies, beside_copies, key_for
from ..comparison import ROWS_LIMIT, SKIPPED, TableDiff, compare
from ..config import Settings
from ..errors import DatabaseMissingError
from ..reporting import ProgressFactory, Reporter, no_progress, silent
from ..restore import check_compatible
from ..revisions import DatabaseState, format_revs
from ..store import Snapshot
from ..workspace import Workspace
from . import beside

#: Snapshots up to this size (bytes) are compared exactly before a restore: building
#: their beside copy costs seconds (about what restoring them costs: SQLite a file
#: copy, PostgreSQL and MariaDB a load of the dump). Above, row counts are estimates.
EXACT_LIMIT = 256 * 1024 * 1024


@dataclass(frozen=True)
class Diff:
    """`safeguard diff ID`: the snapshot against the live database."""

    snapshot: Snapshot
    heads: tuple[str, ...]
    tables: tuple[TableDiff, ...]
    #: How the snapshot's side was read: its beside copy's key, and whether it was kept.
    copy: str
    temporary: bool

    @property
    def differs(self) -> bool:
        return any(t.differs for t in self.tables) or set(self.heads) != set(self.snapshot.revisions)

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot.id, "snapshot_revisions": list(self.snapshot.revisions),
                "live_revisions": list(self.heads), "copy": self.copy,
                "temporary_copy": self.temporary, "differs": self.differs,
                "tables": [t.to_dict() for t in self.tables]}

    def lines(self) -> list[str]:
        out = [f"Snapshot {self.snapshot.id} ({format_revs(self.snapshot.revisions)}, "
               f"{self.snapshot.created_at}) against the live database "
               f"({format_revs(self.heads)}):"]
        changed = [t for t in self.tables if t.differs]
        for table in changed:
            out += table.lines()
        same = len(self.tables) - len(changed)
        if same:
            out.append(f"{same} table(s) the same on both sides (rows by key, columns).")
        if not changed:
            out.append("No differences.")
        return out


def diff(settings: Settings, snapshot_id: str, *, tables: Collection[str] | None = None,
         rows: bool = False, limit: int = ROWS_LIMIT, report: Reporter = silent,
         progress: ProgressFactory = no_progress) -> Diff:
    """Compare snapshot ``snapshot_id`` with the live database (``tables`` only, when
    given; with ``rows``, list up to ``limit`` keys of each kind of difference)."""
    ws = Workspace(settings)
    state = ws.database(check_known=False)
    backend = ws.backend(state)
    snapshot = ws.snapshot(snapshot_id)
    check_compatible(snapshot, backend)
    wanted = beside._tables(snapshot, tables)
    with _copy_of(ws, state, backend, snapshot, wanted, report=report, progress=progress) as (copies, key, temporary):
        with beside.reading(state.url, copies, key) as conn:
            found = compare(conn, copies.qualifier(key), tables=wanted, rows=rows, limit=limit)
    return Diff(snapshot=snapshot, heads=state.heads, tables=found, copy=key, temporary=temporary)


@contextmanager
def _copy_of(ws: Workspace, state: DatabaseState, backend: Backend, snapshot: Snapshot,
             wanted: tuple[str, ...] | None, *, report: Reporter,
             progress: ProgressFactory) -> Iterator[tuple[BesideCopies, str, bool]]:
    """A beside copy of ``snapshot`` holding ``wanted``: the kept one, or one of the
    diff's own, dropped afterwards."""
    copies = beside_copies(backend, beside._root(ws))
    kept = beside._record(ws, key_for(snapshot.id))
    if kept is not None and (kept.tables is None or (wanted is not None and set(wanted) <= set(kept.tables))):
        yield copies, kept.key, False
        return
    key = key_for(snapshot.id, "diff")
    with interruption.handling(), ws.operation("diff", backend, f"diff {snapshot.id}") as held:
        # A diff copy is never kept: one found here is a crash's, and goes first.
        beside._drop(ws, copies, key)
        beside.prove(ws, backend, snapshot)
        report(f"Reading snapshot {snapshot.id} into {copies.location(key)} to compare ...")
        beside.make_copy(ws, held, copies, snapshot, key, tables=wanted, progress=progress)
        op = held.op
        assert op is not None
        error: str | None = None
        try:
            with interruption.stoppable():
                yield copies, key, True
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            with interruption.finishing("dropping the diff's copy"), op.step("drop", beside=key):
                beside._drop(ws, copies, key)
            op.finish("failed" if error else "compared", beside=key,
                      **({"error": error} if error else {}))


# -- what a restore would discard ---------------------------------------------------------

@dataclass(frozen=True)
class Discard:
    """One table's rows that a restore of the snapshot would throw away."""

    table: str
    #: Rows written since the snapshot (exact), or the net change of its row count.
    rows: int
    inserted: int | None = None
    changed: int | None = None
    deleted: int | None = None
    #: The whole table goes: it was created since the snapshot.
    whole_table: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "rows": self.rows, "inserted": self.inserted,
                "changed": self.changed, "deleted": self.deleted, "whole_table": self.whole_table}


@dataclass(frozen=True)
class Discards:
    """What `safeguard restore ID` would throw away of the live data."""

    snapshot: Snapshot
    exact: bool
    tables: tuple[Discard, ...]
    #: Columns added since the snapshot, whose values the restore loses too.
    columns: tuple[str, ...] = ()

    @property
    def newer_writes(self) -> bool:
        """Whether anything was written since the snapshot (a restore loses it)."""
        return bool(self.tables or self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot.id, "exact": self.exact,
                "newer_writes": self.newer_writes, "columns": list(self.columns),
                "tables": [t.to_dict() for t in self.tables]}

    def lines(self) -> list[str]:
        if not self.newer_writes:
            return [f"Nothing was written since snapshot {self.snapshot.id}"
                    + ("" if self.exact else " (estimated from row counts)") + ": the restore "
                    "discards no rows."]
        how = ("compared row by row" if self.exact else
               "ESTIMATES from row counts, the snapshot's against the live ones: rows inserted "
               "and deleted alike do not show")
        out = [f"Restoring {self.snapshot.id} would discard what was written since it was taken "
               f"({self.snapshot.created_at}; {how}):"]
        for t in self.tables:
            if t.whole_table:
                out.append(f"  {t.table}: the whole table ({t.rows:,} rows), created since")
            elif self.exact:
                out.append(f"  {t.table}: {t.rows:,} rows written since ({t.inserted:,} inserted, "
                           f"{t.changed:,} changed, {t.deleted:,} deleted)")
            else:
                out.append(f"  {t.table}: about {t.rows:,} rows (net change of its row count)")
        for column in self.columns:
            out.append(f"  column {column}: added since, its values are lost")
        out.append(f"To keep them, restore it beside the live data instead and copy back only "
                   f"what was lost: safeguard restore {self.snapshot.id} --beside")
        return out


def what_restore_discards(settings: Settings, snapshot_id: str, *, exact_limit: int = EXACT_LIMIT,
                          report: Reporter = silent) -> Discards:
    """Per table, the rows written since snapshot ``snapshot_id`` that restoring it
    would discard: exact (a diff) up to ``exact_limit`` bytes of snapshot, else
    estimated from row counts."""
    ws = Workspace(settings)
    snapshot = ws.snapshot(snapshot_id)
    try:
        present = ws.database(check_known=False, empty_ok=True)
    except DatabaseMissingError:  # no file at all (a new machine): nothing to discard
        return Discards(snapshot, True, ())
    if present.empty_file:
        return Discards(snapshot, True, ())
    # A template or kept PostgreSQL snapshot's payload is a marker: its database's size counts.
    weight = max([snapshot.size] + [int(snapshot.extra.get(k) or 0)
                                    for k in ("database_size", "template_size", "kept_size")])
    if weight <= exact_limit:
        found = diff(settings, snapshot.id, report=report)
        lost: list[Discard] = []
        columns: list[str] = []
        for t in found.tables:
            if t.status == "added":
                lost.append(Discard(t.table, t.live_rows or 0, whole_table=True))
            elif t.status == "both":
                columns += [f"{t.table}.{c}" for c in t.columns_added]
                if t.written is not None and t.written:
                    lost.append(Discard(t.table, t.written, inserted=t.only_live, changed=t.changed,
                                        deleted=t.only_in_snapshot))
                elif t.written is None and t.live_rows != t.snapshot_rows:
                    lost.append(Discard(t.table, abs((t.live_rows or 0) - (t.snapshot_rows or 0))))
        return Discards(snapshot, True, tuple(lost), tuple(columns))
    state = ws.database(check_known=False)
    live = ws.backend(state).row_counts()
    lost = []
    for table in sorted(set(live) - SKIPPED):
        before = snapshot.row_counts.get(table)
        if before is None:
            lost.append(Discard(table, live[table], whole_table=True))
        elif live[table] != before:
            lost.append(Discard(table, abs(live[table] - before)))
    return Discards(snapshot, False, tuple(lost))

