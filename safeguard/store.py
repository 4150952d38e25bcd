"""The snapshot store: a directory of snapshots, each a payload plus a manifest.

    .safeguard/
      .gitignore                      `*`: the store never reaches a commit (gitignore.py)
      journal.jsonl                   every operation, step by step (journal.py)
      locks/                          one lock file per database (lock.py)
      snapshots/<id>/manifest.json    written last: no manifest, no snapshot
      snapshots/<id>/<payload files>  written by the engine's backend
      snapshots/.tmp-<id>/            a snapshot being written (removed on failure)

Snapshot ids sort by time (`20261125T201500Z-3f9a1c`) and are validated before they
name a path, so no id can point outside the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import MISSING, fields
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator, Mapping

from . import digest, durable, faults, interruption, ownership
from .backends import Backend, KeepsReplaced
from .durable import Progress
from .errors import (
    ConfigError,
    SnapshotError,
    SnapshotNotFoundError,
    StoreNotWritableError,
    VerificationError,
)
from .gitignore import keep_out_of_git
from .manifest import Payload, Snapshot
from .reporting import size_words
from .retention import counted

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
#: The shortest part of an id that may name a snapshot (git asks as much of a commit's).
MIN_PARTIAL = 4
PARTIAL_ID = re.compile(rf"^[0-9a-fTZ-]{{{MIN_PARTIAL},22}}$")
#: Free space wanted beyond the database's size before a snapshot is attempted.
SPACE_MARGIN = 1.1


def new_snapshot_id(now: datetime | None = None) -> str:
    """A fresh, time-sortable snapshot id."""
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def payload_digest(files: Mapping[str, str]) -> str:
    """One checksum for a payload: the file's own for one file, else over the list."""
    if len(files) == 1:
        return next(iter(files.values()))
    lines = "".join(f"{digest}  {name}\n" for name, digest in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


class SnapshotStore:
    """Snapshots on disk, in one private directory."""

    def __init__(self, root: Path, *, names: Callable[[str, str], str] | None = None) -> None:
        """Refuse a store another user could have written (see ownership.py).
        ``names(engine, identity)`` gives a new snapshot's ``database_name``."""
        ownership.check_private(root)
        self.root = root
        self._names = names
        self.snapshots_dir = root / "snapshots"
        self._kept_out_of_git = False

    # -- setup -------------------------------------------------------------------

    def ensure_writable(self) -> None:
        """Create the store (0700) and prove it can be written, or refuse."""
        try:
            durable.make_dir(self.snapshots_dir)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreNotWritableError(
                f"snapshot store {self.root} is not writable: {exc.strerror or exc}"
            ) from exc
        if not self._kept_out_of_git:  # once per command, however often it is asked
            keep_out_of_git(self.root)
            self._kept_out_of_git = True

    def ensure_space(self, needed: int) -> None:
        """Refuse a snapshot that cannot fit, before writing a byte of it."""
        problem = self.space_problem(needed)
        if problem:
            raise StoreNotWritableError(problem)

    def space_problem(self, needed: int) -> str | None:
        """Why a snapshot of about ``needed`` bytes would not fit in the store now (or
        in the directory it would be created in), or None; writes nothing."""
        free = shutil.disk_usage(_nearest_existing(self.root)).free
        if free < needed * SPACE_MARGIN:
            return (f"not enough free space in {self.root} for a snapshot: {size_words(free)} "
                    f"free, about {size_words(int(needed * SPACE_MARGIN))} needed")
        return None

    def writable_problem(self) -> str | None:
        """Why the store could not be written now, or None; unlike `ensure_writable`
        it creates and writes nothing (`safeguard plan` reports it)."""
        where = _nearest_existing(self.root)
        if not os.access(where, os.W_OK | os.X_OK) or os.statvfs(where).f_flag & os.ST_RDONLY:
            return f"snapshot store {self.root} is not writable ({where} cannot be written)"
        return None

    # -- reading -----------------------------------------------------------------

    def ids(self) -> list[str]:
        """The ids of the complete snapshots in the store (unsorted; no manifest read)."""
        if not self.snapshots_dir.is_dir():
            return []
        return [entry.name for entry in self.snapshots_dir.iterdir()
                if ID_PATTERN.match(entry.name) and (entry / MANIFEST).is_file()]

    def list(self) -> list[Snapshot]:
        """Every complete snapshot, oldest first."""
        found = [self._read_manifest(self.snapshots_dir / snapshot_id) for snapshot_id in self.ids()]
        return sorted(found, key=lambda s: (s.created, s.id))

    def get(self, snapshot_id: str) -> Snapshot:
        """The snapshot with this id ('latest' names the newest that is not a safety
        snapshot: restoring the state a restore replaced is a choice made by id; a
        unique prefix or suffix of an id names that snapshot: see `resolve`)."""
        if snapshot_id == "latest":
            return self.latest()
        directory = self.path_of(self.resolve(snapshot_id))
        if not (directory / MANIFEST).is_file():
            raise SnapshotNotFoundError(f"no snapshot {snapshot_id} in {self.root}")
        return self._read_manifest(directory)

    def latest(self) -> Snapshot:
        """The newest snapshot that is not a safety snapshot, of those that count
        (retention.uncounted: not one dated in the future, nor one taken in from the
        remote unauthenticated)."""
        snapshots = self.list()
        chosen = [s for s in counted(snapshots, datetime.now(timezone.utc)) if not s.safety]
        if chosen:
            return chosen[-1]
        if not snapshots:
            raise SnapshotNotFoundError(f"the store {self.root} holds no snapshots")
        shown = ", ".join(f"{s.id} ({s.reason})" for s in reversed(snapshots[-3:]))
        which = ("only safety snapshots, each the state a restore replaced"
                 if all(s.safety for s in snapshots) else
                 "only snapshots 'latest' never names (safety snapshots, and snapshots dated "
                 "in the future or not authenticated)")
        raise SnapshotNotFoundError(
            f"the store {self.root} holds {which}: {shown}; name the one you want by its id "
            "(`safeguard snapshot list` shows them all)")

    def resolve(self, ref: str, elsewhere: Callable[[], Iterable[str]] | None = None) -> str:
        """The full id ``ref`` names: itself when it is one (or 'latest'), else the one
        snapshot id it begins or ends, among this store's and ``elsewhere()``'s (the
        remote's, asked only for a partial id), as git takes a commit's unique prefix.
        Fewer than 4 characters, or several matches, is a ConfigError naming them."""
        if ref == "latest" or ID_PATTERN.match(ref):
            return ref
        if not PARTIAL_ID.match(ref):
            raise ConfigError(f"invalid snapshot id {ref!r} (expected e.g. 20261125T201500Z-3f9a1c, "
                              f"or at least {MIN_PARTIAL} characters of one)")
        known = set(self.ids()) | set(elsewhere() if elsewhere is not None else ())
        found = sorted(i for i in known if i.startswith(ref) or i.endswith(ref))
        if len(found) == 1:
            return found[0]
        if not found:
            raise SnapshotNotFoundError(f"no snapshot id begins or ends with {ref!r} in {self.root}"
                                        + (" or on the remote" if elsewhere is not None else ""))
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise ConfigError(f"{ref!r} names {len(found)} snapshots: {shown}; give more of the id")

    def path_of(self, snapshot_id: str) -> Path:
        """The directory of a snapshot; the id is validated first."""
        if not ID_PATTERN.match(snapshot_id):
            raise ConfigError(
                f"invalid snapshot id {snapshot_id!r} (expected e.g. 20261125T201500Z-3f9a1c)"
            )
        return self.snapshots_dir / snapshot_id

    def _read_manifest(self, directory: Path) -> Snapshot:
        path = directory / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise VerificationError(f"the manifest of snapshot {directory.name} cannot be read: "
                                    f"{exc}") from exc
        except ValueError as exc:
            raise VerificationError(f"the manifest of snapshot {directory.name} is not JSON "
                                    f"({exc}): {path}") from exc
        problem = manifest_problem(data, directory.name)
        if problem:
            raise VerificationError(f"the manifest of snapshot {directory.name} {problem}: {path}")
        return Snapshot.from_dict(data)

    # -- writing -----------------------------------------------------------------

    def create(
        self,
        backend: Backend,
        *,
        reason: str,
        revisions: tuple[str, ...],
        label: str | None = None,
        pinned: bool = False,
        safety: bool = False,
        progress: Progress = None,
        snapshot_id: str | None = None,
        take: Callable[[Path, str, Progress], Payload] | None = None,
    ) -> Snapshot:
        """Take a snapshot: payload under a temporary name, checksum, verify, rename,
        manifest last. ``take(staging, id, progress)`` writes a payload other than
        ``backend.snapshot``'s (a kept database: nothing is copied into the store)."""
        self.ensure_writable()
        if take is None:
            self.ensure_space(backend.size())
        faults.point("store:space-checked")
        snapshot_id = snapshot_id or new_snapshot_id()
        started = time.perf_counter()
        log.debug("snapshot %s of %s: writing into %s", snapshot_id, backend.identity(), self.snapshots_dir)
        staging = self.snapshots_dir / f".tmp-{snapshot_id}"
        try:
            durable.make_dir(staging)
            # A signal may stop the copy (interruption.py): the staging goes below.
            with interruption.stoppable():
                payload = (take(staging, snapshot_id, progress) if take is not None
                           else backend.snapshot(staging, progress=progress))
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise SnapshotError(f"cannot write snapshot {snapshot_id} in {self.root}: "
                                f"{exc.strerror or exc}") from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        snapshot = self._commit(backend, snapshot_id, payload, reason=reason,
                                revisions=revisions, label=label, pinned=pinned, safety=safety)
        log.info("snapshot %s: %d bytes, %d tables, %s, verified, in %.2fs", snapshot_id,
                 snapshot.size, len(snapshot.row_counts), digest.short(snapshot.sha256),
                 time.perf_counter() - started)
        return snapshot

    def begin_kept(self, snapshot_id: str) -> Path:
        """The staging directory of a snapshot whose payload a restore will move in (the
        database it replaces: see `finish_kept`); until its manifest is written it is a
        leftover like any half-written snapshot."""
        self.ensure_writable()
        staging = self.snapshots_dir / f".tmp-{snapshot_id}"
        try:
            durable.make_dir(staging)
            durable.fsync_dir(self.snapshots_dir)
        except OSError as exc:
            raise SnapshotError(f"cannot write snapshot {snapshot_id} in {self.root}: "
                                f"{exc.strerror or exc}") from exc
        return staging

    def finish_kept(self, backend: KeepsReplaced, snapshot_id: str, *, reason: str,
                    revisions: tuple[str, ...], safety: bool = False) -> Snapshot:
        """Make a snapshot of the payload a restore moved into ``begin_kept``'s directory:
        its digest and row counts now (the bytes were never copied), rename, manifest
        last. The staging directory stays for `recover` if this fails."""
        started = time.perf_counter()
        staging = self.snapshots_dir / f".tmp-{snapshot_id}"
        try:
            renamed = self.path_of(snapshot_id)
            if not staging.exists() and renamed.is_dir() and not (renamed / MANIFEST).exists():
                os.replace(renamed, staging)  # a crash came between its rename and manifest
            payload = backend.kept_payload(staging)
        except OSError as exc:
            raise SnapshotError(f"cannot finish snapshot {snapshot_id}: {exc.strerror or exc}") from exc
        # On failure the payload stays where it is: it is the only copy of that state.
        snapshot = self._commit(backend, snapshot_id, payload, reason=reason, revisions=revisions,
                                safety=safety, discard=False)
        log.info("snapshot %s: the replaced database kept without a copy, %d bytes, %s, in %.2fs",
                 snapshot_id, snapshot.size, digest.short(snapshot.sha256),
                 time.perf_counter() - started)
        return snapshot

    def kept_leftover(self, snapshot_id: str) -> Path | None:
        """The directory of an unfinished `begin_kept` snapshot, if a crash left one."""
        for directory in (self.snapshots_dir / f".tmp-{snapshot_id}", self.path_of(snapshot_id)):
            if directory.is_dir() and not (directory / MANIFEST).exists():
                return directory
        return None

    def _commit(self, backend: Backend | KeepsReplaced, snapshot_id: str, payload: Payload, *,
                reason: str, revisions: tuple[str, ...], label: str | None = None,
                pinned: bool = False, safety: bool = False, discard: bool = True) -> Snapshot:
        """Rename a written payload's staging directory into place, then write the
        manifest (last: a snapshot without one does not exist)."""
        staging = self.snapshots_dir / f".tmp-{snapshot_id}"
        final = self.path_of(snapshot_id)
        try:
            durable.fsync_dir(staging)
            os.replace(staging, final)
            durable.fsync_dir(self.snapshots_dir)
        except OSError as exc:
            if discard:
                shutil.rmtree(staging, ignore_errors=True)
            raise SnapshotError(f"cannot write snapshot {snapshot_id} in {self.root}: "
                                f"{exc.strerror or exc}") from exc
        snapshot = Snapshot(
            id=snapshot_id,
            created_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            reason=reason,
            engine=backend.engine,
            database=backend.identity(),
            database_name=self._names(backend.engine, backend.identity()) if self._names else None,
            revisions=tuple(revisions),
            size=payload.size,
            sha256=payload_digest(payload.files),
            files=dict(payload.files),
            row_counts=dict(payload.row_counts),
            label=label,
            pinned=pinned,
            compression=payload.compression,
            content_sha256=payload.content_sha256,
            extra=dict(payload.extra),
            safety=safety,
        )
        faults.point("store:before-manifest")
        try:
            durable.write_json(final / MANIFEST, snapshot.to_dict())
        except OSError as exc:
            if discard:
                shutil.rmtree(final, ignore_errors=True)
            raise SnapshotError(f"cannot write the manifest of {snapshot_id}: {exc}") from exc
        return snapshot

    def verify_checksum(self, snapshot: Snapshot, *, progress: Progress = None) -> None:
        """Re-hash every payload file against the manifest, or raise VerificationError."""
        directory = self.path_of(snapshot.id)
        for name, expected in snapshot.files.items():
            path = directory / name
            if not path.is_file():
                raise VerificationError(f"snapshot {snapshot.id} is missing its file {name}")
            actual = digest.like(expected, path, progress=progress)
            if actual != expected:
                raise VerificationError(
                    f"snapshot {snapshot.id} is damaged: {name} has {digest.short(actual)}…, "
                    f"the manifest says {digest.short(expected)}…"
                )

    def delete(self, snapshot_id: str) -> None:
        """Remove a snapshot: the manifest first, so a half-deleted one no longer exists.
        A link in its place is never followed (the store was checked when opened; this
        holds even if one appeared since)."""
        directory = self.path_of(snapshot_id)
        if directory.is_symlink():
            ownership.check_private(directory)  # raises: names the link
        durable.remove_quietly(directory / MANIFEST)
        shutil.rmtree(directory, ignore_errors=True)

    def leftovers(self) -> Iterator[Path]:
        """Temporary or manifest-less snapshot directories a crash left behind."""
        if not self.snapshots_dir.is_dir():
            return
        for entry in self.snapshots_dir.iterdir():
            if entry.name.startswith(".tmp-") or (
                ID_PATTERN.match(entry.name) and not (entry / MANIFEST).is_file()
            ):
                yield entry


def _nearest_existing(path: Path) -> Path:
    """``path``, or the nearest of its parents that exists (where it would be created)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def manifest_problem(data: Any, snapshot_id: str) -> str | None:
    """What makes ``data`` unfit to be the manifest of ``snapshot_id``, or None.

    Everything else trusts a manifest's fields (their types, that the file names stay
    inside the snapshot, that the id is the directory's), so a damaged or hand-edited
    one must be refused here, before any command acts on it.
    """
    if not isinstance(data, dict):
        return "is not a JSON object"
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        return f"is missing {', '.join(missing)}"
    for name, (fits, expected) in _FIELDS.items():
        if name in data and not fits(data[name]):
            return f"has {name} = {_short(data[name])} (expected {expected})"
    if data["id"] != snapshot_id:
        return f"says it is snapshot {_short(data['id'])}"
    outside = [name for name in data["files"] if not _inside(name)]
    if outside:
        return f"names a file outside its directory: {outside[0]!r}"
    return None


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_utc_time(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _mapping_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, dict) and all(
        _is_str(k) and check(v) for k, v in value.items())


def _inside(name: str) -> bool:
    """A payload file name that stays inside its snapshot directory."""
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: Each manifest field: the test its value must pass, and what that test expects.
_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "id": (_is_str, "a string"),
    "created_at": (_is_utc_time, "an ISO 8601 time with its UTC offset"),
    "reason": (_is_str, "a string"),
    "engine": (_is_str, "a string"),
    "database": (_is_str, "a string"),
    "revisions": (lambda v: v is None or isinstance(v, list) and all(map(_is_str, v)),
                  "a list of revision ids"),
    "size": (_is_count, "a number of bytes"),
    "sha256": (_is_str, "a string"),
    "files": (lambda v: bool(v) and _mapping_of(_is_str)(v), "file names and their digests"),
    "row_counts": (_mapping_of(_is_count), "table names and row counts"),
    "label": (_optional(_is_str), "a string or null"),
    "pinned": (lambda v: isinstance(v, bool), "true or false"),
    "compression": (_optional(_is_str), "a string or null"),
    "content_sha256": (_optional(_is_str), "a string or null"),
    "extra": (lambda v: isinstance(v, dict), "an object"),
    "safety": (lambda v: isinstance(v, bool), "true or false"),
    "database_name": (_optional(_is_str), "a string or null"),
    "unauthenticated": (lambda v: isinstance(v, bool), "true or false"),
}
_REQUIRED = [f.name for f in fields(Snapshot)
             if f.default is MISSING and f.default_factory is MISSING and f.name != "revisions"]
