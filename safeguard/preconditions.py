"""Preconditions: what a guarded run's undo and keepsake need before the run starts,
checked now and changing nothing, so that `safeguard plan` in CI reports what
`safeguard upgrade` would otherwise refuse only at deploy time.

    store     the snapshot store can be written, and has room for the snapshot
    snapshot  the engine can take one (client tools as new as the server, tables a
              consistent dump can freeze)
    restore   this role on this host can restore it (PostgreSQL: CREATEDB, no
              extension only a superuser may create; SQLite: room and write
              permission beside the file, a file with one name)
    remote    the remote the snapshot goes to can be written (failed with
              remote_required, where the run would refuse; else a warning: the
              snapshot would stay local)

Each is a `Precondition`: its status (ok, failed, warning), what it found, what needs
it (the undo, the keepsake, `snapshot create`, `restore`), and the exit code of the
refusal a failure predicts. The checks are the backend's and the store's own
(Backend.snapshot_blockers and restore_blockers, SnapshotStore.writable_problem and
space_problem), the ones the run itself refuses on, so the plan and the run agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from .backends import Backend
from .errors import RefusedError, SafeguardError, StoreNotWritableError
from .reporting import size_words

if TYPE_CHECKING:
    from .plan import Plan
    from .workspace import Workspace

OK, FAILED, WARNING = "ok", "failed", "warning"
#: What may need a precondition.
UNDO, KEEPSAKE, SNAPSHOT_CREATE, RESTORE = "undo", "keepsake", "snapshot create", "restore"


@dataclass(frozen=True)
class Precondition:
    """One thing a snapshot, its restore or its upload needs, as found now."""

    name: str  # store | snapshot | restore | remote
    status: str  # ok | failed | warning
    detail: str
    needed_by: tuple[str, ...]
    #: The refusal a failure predicts (its class: its exit code and kind).
    error: type[SafeguardError] = field(default=RefusedError, compare=False)

    @property
    def ok(self) -> bool:
        return self.status != FAILED

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail,
                "needed_by": list(self.needed_by),
                "exit_code": None if self.ok else self.error.exit_code}


@dataclass(frozen=True)
class Preconditions:
    """Every precondition checked, in order; ok when none failed."""

    items: tuple[Precondition, ...] = ()

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.items)

    @property
    def failures(self) -> tuple[Precondition, ...]:
        return tuple(p for p in self.items if not p.ok)

    @property
    def exit_code(self) -> int:
        """The exit code of the run's refusal (the first failure's); 0 when ok."""
        return self.failures[0].error.exit_code if self.failures else 0

    def summary(self) -> str:
        """One line naming every failure, for the error line of `plan` and `check`."""
        return "; ".join(f"{p.name}: {p.detail}" for p in self.failures)

    def require(self, refusal: str) -> None:
        """Raise the first failure's error, ``refusal`` then every failure named."""
        if self.failures:
            raise self.failures[0].error(f"{refusal}: {'; '.join(p.detail for p in self.failures)}")

    def lines(self) -> list[str]:
        """The preconditions as people read them, one line each."""
        if not self.items:
            return []
        return ["Preconditions:"] + [
            f"  {p.status:<8} {p.name}: {p.detail}  [{', '.join(p.needed_by)}]" for p in self.items]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "items": [p.to_dict() for p in self.items]}


def gather(ws: Workspace, backend: Backend, *, snapshot_for: Sequence[str] = (),
           restore_for: Sequence[str] = ()) -> Preconditions:
    """The preconditions of a snapshot of ``backend``'s database taken for
    ``snapshot_for`` (uploaded too, when a remote is set), and of its restore for
    ``restore_for``; nothing is written to the database or the store."""
    snapshot_for, restore_for = tuple(snapshot_for), tuple(restore_for)
    items: list[Precondition] = []
    if snapshot_for or restore_for:
        everyone = snapshot_for + tuple(n for n in restore_for if n not in snapshot_for)
        items += _store(ws, backend, everyone, room=bool(snapshot_for))
    if snapshot_for:
        items += _each("snapshot", backend.snapshot_blockers(), snapshot_for,
                       ok="nothing keeps one from being taken")
        items += _remote(ws, snapshot_for)
    if restore_for:
        items += _each("restore", backend.restore_blockers(), restore_for,
                       ok=f"this role can restore {backend.identity()}")
    return Preconditions(tuple(items))


def of_plan(ws: Workspace, backend: Backend, plan: Plan) -> Preconditions:
    """The preconditions of a plan: a snapshot undo's (taken, uploaded, restorable)."""
    planned = (UNDO,) if plan.snapshot else ()
    return gather(ws, backend, snapshot_for=planned, restore_for=planned)


def of_database(ws: Workspace, backend: Backend) -> Preconditions:
    """Everything a snapshot of the database and its restore need, whatever takes or
    restores it (what `safeguard check` reports)."""
    return gather(ws, backend, snapshot_for=(UNDO, KEEPSAKE, SNAPSHOT_CREATE),
                  restore_for=(UNDO, RESTORE))


def _each(name: str, problems: Sequence[str], needed_by: tuple[str, ...], *,
          ok: str) -> list[Precondition]:
    if not problems:
        return [Precondition(name, OK, ok, needed_by)]
    return [Precondition(name, FAILED, problem, needed_by) for problem in problems]


def _store(ws: Workspace, backend: Backend, needed_by: tuple[str, ...], *,
           room: bool) -> list[Precondition]:
    """Writable (every changing operation writes its journal there), and with ``room``
    for a snapshot of the database's size now."""
    store = ws.store
    problem = store.writable_problem()
    if problem is None and room:
        size = backend.size()
        problem = store.space_problem(size)
        if problem is None:
            return [Precondition("store", OK, f"{store.root} can be written, with room for a "
                                              f"snapshot of about {size_words(size)}", needed_by)]
    if problem is not None:
        return [Precondition("store", FAILED, problem, needed_by, StoreNotWritableError)]
    return [Precondition("store", OK, f"{store.root} can be written", needed_by)]


def _remote(ws: Workspace, needed_by: tuple[str, ...]) -> list[Precondition]:
    """The remote, written and deleted a probe object (as remote_required's check does)."""
    if not ws.settings.remote:
        return []
    try:
        remote = ws.uploads.remote
        if remote is None:
            return []
        remote.ensure_writable()
    except SafeguardError as exc:  # unreachable, refused; or no boto3, an unknown profile
        if ws.settings.remote_required:  # the run refuses (Uploads.preflight)
            return [Precondition("remote", FAILED, f"remote_required: {exc.message}", needed_by,
                                 type(exc))]
        return [Precondition("remote", WARNING, f"{exc.message}; the snapshot would stay local",
                             needed_by)]
    return [Precondition("remote", OK, f"{remote.url} can be written", needed_by)]
