"""What a snapshot is, as every layer passes it: the payload a backend wrote (`Payload`)
and the manifest the store keeps beside it (`Snapshot`). The store writes and reads
manifests; the backends take a `Snapshot` to restore, verify or discard, never its
JSON. Plain values, importing nothing else of safeguard."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, Mapping

#: How the reason of a safety snapshot begins (manifests before the ``safety`` field).
SAFETY_REASON = "safety snapshot before restoring"
#: How the reason of a snapshot taken before a migration begins (guard.py writes it).
PRE_MIGRATION = ("before upgrade", "before downgrade")

#: What a snapshot's payload is: files in the store (a SQLite copy, a pg_dump), or a
#: database kept on the server (a template copy, or the database a restore replaced).
PayloadKind = Literal["file copy", "dump", "template database", "kept database"]
#: ``extra["format"]`` of a kept database (backends/postgres/kept.py).
KEPT_DATABASE = "kept-database"
_KINDS: dict[str, PayloadKind] = {"template": "template database", KEPT_DATABASE: "kept database",
                                  "custom": "dump", "directory": "dump"}


@dataclass(frozen=True)
class Payload:
    """What a backend wrote into a snapshot directory."""

    files: Mapping[str, str]  # file name -> digest (see digest.py)
    size: int  # bytes on disk
    row_counts: Mapping[str, int]
    extra: Mapping[str, Any] = field(default_factory=dict)  # engine facts for the manifest
    compression: str | None = None
    content_sha256: str | None = None  # of the uncompressed bytes, when compressed


@dataclass(frozen=True)
class Snapshot:
    """A snapshot's manifest: what was copied, from where, when and why."""

    id: str
    created_at: str  # ISO 8601, UTC
    reason: str
    engine: str
    database: str  # the backend's identity of the database (never a secret)
    revisions: tuple[str, ...]
    size: int
    #: The payload's digest: its one file's (``blake3:<hex>``; a bare hex digest, as
    #: every manifest before BLAKE3 has, is a sha256), or a sha256 over the files' ones.
    sha256: str
    files: Mapping[str, str]
    row_counts: Mapping[str, int]
    label: str | None = None
    #: Never pruned by retention.
    pinned: bool = False
    #: Payload compression ("zstd") or None.
    compression: str | None = None
    #: sha256 of the uncompressed database bytes, when the payload is compressed.
    content_sha256: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: Taken by a restore, of the state it replaced: never what 'latest' names.
    safety: bool = False
    #: The database's name on every machine (identity.portable_name); None in
    #: manifests written before it, which are matched by ``database`` alone.
    database_name: str | None = None
    #: Read from the remote without a valid signature under this machine's key
    #: (signature.py): never 'latest', never counted by retention, restored only when
    #: told (--allow-unauthenticated). Set by the reader, never taken from the remote.
    unauthenticated: bool = False

    @property
    def revision(self) -> str | None:
        """The revision(s) as one string, None at base (the JSON contract's shape)."""
        return ",".join(self.revisions) or None

    @property
    def payload_kind(self) -> PayloadKind:
        """What the payload is (by the format its engine recorded)."""
        return _KINDS.get(str(self.extra.get("format")), "file copy")

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["revisions"] = list(self.revisions)
        data["revision"] = self.revision
        data["payload_kind"] = self.payload_kind
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Snapshot":
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["revisions"] = tuple(values.get("revisions") or ())
        if "safety" not in values:  # a manifest written before the field existed
            values["safety"] = str(values.get("reason", "")).startswith(SAFETY_REASON)
        return cls(**values)
