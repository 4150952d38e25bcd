"""The remote store: every snapshot copied to S3 or an S3-compatible service, so it
survives the machine (a CI job's workspace, a container, a failed disk).

    s3://BUCKET/PREFIX/snapshots/<id>/<payload files>    uploaded first
    s3://BUCKET/PREFIX/snapshots/<id>/manifest.json      uploaded last: no manifest, no snapshot

The payload is opaque here: the files a snapshot's manifest lists, whatever the engine.
Each goes up with an S3 checksum (``ChecksumAlgorithm=SHA256``: the service rejects a
part whose bytes do not match), and every way down is checked against the manifest's
digest before the snapshot is renamed into the local store.

The client is boto3 (the `remote` extra): its transfer manager streams a file up in
multipart chunks and down to a file, holding a few chunks in memory whatever the
snapshot's size; it speaks to any S3-compatible endpoint (``endpoint_url``); it reads
credentials from the standard AWS chain (environment, shared config and profiles,
container and instance roles), so safeguard never holds one. docs/remote.md says
more about the choice.

Credentials never reach a message, the journal or a manifest: errors are translated
here into one line that names the bucket and what failed.

What comes down is authenticated before it is used: each manifest goes up signed with
the remote key (signature.py) and is checked on the way down. One that does not check
out (no key here, no signature, a signature that does not match) is marked
``unauthenticated``: listed, never `latest`, never counted by retention, and brought
into the store only when the command is told so (``allow_unauthenticated``).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator
from urllib.parse import urlsplit

from . import digest, durable, faults, signature
from .config import Settings
from .errors import (
    ConfigError,
    RemoteBucketError,
    RemoteCredentialsError,
    RemoteError,
    RemoteUnreachableError,
    SafeguardError,
    SnapshotNotAuthenticatedError,
    SnapshotNotFoundError,
    VerificationError,
)
from .manifest import Snapshot
from .retention import in_the_future

if TYPE_CHECKING:
    from .store import SnapshotStore

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: Multipart chunks of 8 MiB, four in flight: memory stays near 40 MiB for any size.
CHUNK = 8 * 1024 * 1024
CONCURRENCY = 4
#: Error codes by which S3 (and the compatible services) refuse credentials.
CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
                              "ExpiredToken", "InvalidToken", "InvalidClientTokenId", "403"})
BUCKET_CODES = frozenset({"NoSuchBucket"})


@dataclass(frozen=True)
class RemoteCopy:
    """What became of one snapshot's upload."""

    snapshot: str
    #: Where the snapshot is on the remote, when the upload succeeded.
    location: str | None = None
    #: Why it is not there, when the upload failed.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def warning(self) -> str | None:
        """The report's warning for a failed upload."""
        if self.ok:
            return None
        return (f"snapshot {self.snapshot} could not be uploaded to the remote ({self.error}); "
                "it is kept in the local store only")

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "ok": self.ok, "location": self.location,
                "error": self.error}


class Remote:
    """One bucket and prefix on S3 or an S3-compatible service."""

    def __init__(self, settings: Settings) -> None:
        url = settings.remote or ""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigError(f"remote must be s3://BUCKET/PREFIX, not {url!r}")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.required = settings.remote_required
        #: Signs what goes up, authenticates what comes down; None: no key here.
        self.key = signature.key_of(settings)
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import ProfileNotFound
        except ImportError as exc:
            raise ConfigError("remote needs boto3: pip install 'alembic-safeguard[remote]'") from exc
        try:
            self._session = boto3.session.Session(profile_name=settings.remote_profile,
                                                  region_name=settings.remote_region)
        except ProfileNotFound as exc:
            raise ConfigError(f"remote_profile {settings.remote_profile!r} is not in the AWS "
                              "shared config") from exc
        config = Config(connect_timeout=5, read_timeout=60,
                        retries={"max_attempts": 3, "mode": "standard"},
                        request_checksum_calculation="when_supported",
                        response_checksum_validation="when_supported")
        self._client = self._session.client("s3", endpoint_url=settings.remote_endpoint,
                                            config=config)
        from boto3.s3.transfer import TransferConfig

        self._transfer = TransferConfig(multipart_threshold=CHUNK, multipart_chunksize=CHUNK,
                                        max_concurrency=CONCURRENCY, max_io_queue=CONCURRENCY * 2)

    # -- where things are ------------------------------------------------------

    def key_of(self, snapshot_id: str, name: str = "") -> str:
        return "/".join(p for p in (self.prefix, "snapshots", snapshot_id, name) if p)

    def location(self, snapshot_id: str) -> str:
        return f"s3://{self.bucket}/{self.key_of(snapshot_id)}/"

    def credential_source(self) -> str:
        """Where the credentials come from (boto3's name for the provider), never them."""
        found = self._session.get_credentials()
        return found.method if found is not None else "none found in the AWS chain"

    # -- writing ---------------------------------------------------------------

    def ensure_writable(self) -> None:
        """Write and delete a probe object, or raise a RemoteError."""
        probe = "/".join(p for p in (self.prefix, f".write-test-{secrets.token_hex(4)}") if p)
        with self._translated("cannot write"):
            self._client.put_object(Bucket=self.bucket, Key=probe, Body=b"")
            self._client.delete_object(Bucket=self.bucket, Key=probe)

    def upload(self, snapshot: Snapshot, directory: Path) -> str:
        """Upload the payload, then the manifest (signed, with a key); the snapshot's
        remote location."""
        if snapshot.unauthenticated:  # signing it here would vouch for what came from the bucket
            raise RemoteError(f"snapshot {snapshot.id} came from the remote unauthenticated: "
                              "it is not uploaded again")
        manifest = snapshot.to_dict()
        if self.key is not None:
            manifest[signature.FIELD] = self.key.sign(manifest)
        with self._translated(f"cannot upload snapshot {snapshot.id}"):
            for name in snapshot.files:
                self._client.upload_file(str(directory / name), self.bucket, self.key_of(snapshot.id, name),
                                         ExtraArgs={"ChecksumAlgorithm": "SHA256"},
                                         Config=self._transfer)
            faults.point("remote:payload-uploaded")
            self._client.put_object(Bucket=self.bucket, Key=self.key_of(snapshot.id, MANIFEST),
                                    Body=json.dumps(manifest, indent=2).encode(),
                                    ChecksumAlgorithm="SHA256", ContentType="application/json")
        log.info("snapshot %s uploaded to %s", snapshot.id, self.location(snapshot.id))
        return self.location(snapshot.id)

    def delete(self, snapshot_id: str) -> None:
        """Delete a snapshot: its manifest first, so a half-deleted one no longer exists."""
        with self._translated(f"cannot delete snapshot {snapshot_id}"):
            self._client.delete_object(Bucket=self.bucket, Key=self.key_of(snapshot_id, MANIFEST))
            for key in self._keys(self.key_of(snapshot_id) + "/"):
                self._client.delete_object(Bucket=self.bucket, Key=key)

    # -- reading ---------------------------------------------------------------

    def ids(self) -> list[str]:
        """The ids of the complete snapshots (those with a manifest), oldest first."""
        from .store import ID_PATTERN

        found = []
        with self._translated("cannot list"):
            for key in self._keys(self.key_of("") + "/"):
                head, _, tail = key.rpartition("/")
                snapshot_id = head.rpartition("/")[2]
                if tail == MANIFEST and ID_PATTERN.match(snapshot_id):
                    found.append(snapshot_id)
        return sorted(found)

    def scan(self) -> tuple[list[Snapshot], list[str]]:
        """Every complete snapshot on the remote, oldest first, and a warning for each
        manifest that cannot be read, which is skipped: several hosts share a bucket, and
        one bad manifest must not stop every host's list and prune (it is left where it
        is, for a person). One whose manifest is gone by the time it is read was deleted
        meanwhile (another host pruning the shared remote): it no longer exists."""
        found, skipped = [], []
        for snapshot_id in self.ids():
            try:
                found.append(self.get(snapshot_id))
            except SnapshotNotFoundError:
                log.info("snapshot %s was deleted from the remote while it was listed", snapshot_id)
            except VerificationError as exc:
                skipped.append(f"{exc.message}: skipped")
        return sorted(found, key=lambda s: (s.created, s.id)), skipped

    def list(self) -> list[Snapshot]:
        """`scan`'s snapshots; its warnings logged."""
        found, skipped = self.scan()
        for warning in skipped:
            log.warning("%s", warning)
        return found

    def latest(self, which: Callable[[Snapshot], bool] = lambda s: True, *,
               allow_unauthenticated: bool = False) -> Snapshot:
        """The newest snapshot on the remote that is not a safety snapshot, of those
        ``which`` chooses (this database's): never one dated in the future
        (retention.uncounted), nor, unless allowed, one that is not authenticated."""
        now = datetime.now(timezone.utc)
        found = [s for s in self.list() if not s.safety and which(s) and not in_the_future(s, now)]
        chosen = [s for s in found if allow_unauthenticated or not s.unauthenticated]
        if not chosen:
            passed = sum(s.unauthenticated for s in found)
            hint = (f"; {passed} not authenticated ({self._why_not_trusted()}): pass "
                    "--allow-unauthenticated to take them too" if passed and not allow_unauthenticated
                    else "")
            raise SnapshotNotFoundError(f"no snapshot of this database that 'latest' may name in "
                                        f"the local store or on the remote {self.url}{hint}")
        return chosen[-1]

    def get(self, snapshot_id: str) -> Snapshot:
        """One snapshot's manifest, checked as the local store checks one, and marked
        ``unauthenticated`` unless its signature checks out."""
        return self._read(snapshot_id)[0]

    def _read(self, snapshot_id: str) -> tuple[Snapshot, str | None]:
        """`get`'s snapshot, and why it is not authenticated (None when it is)."""
        from .store import manifest_problem

        with self._translated(f"cannot read snapshot {snapshot_id}"):
            try:
                body = self._client.get_object(Bucket=self.bucket,
                                               Key=self.key_of(snapshot_id, MANIFEST))["Body"].read()
            except self._client.exceptions.NoSuchKey:
                raise SnapshotNotFoundError(f"no snapshot {snapshot_id} in the store or on the "
                                            f"remote {self.url}") from None
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise VerificationError(f"the manifest of snapshot {snapshot_id} on the remote is not "
                                    f"JSON ({exc})") from exc
        problem = manifest_problem(data, snapshot_id)
        if problem:
            raise VerificationError(f"the manifest of snapshot {snapshot_id} on the remote {problem}")
        untrusted = self._untrusted(data)
        snapshot = Snapshot.from_dict(data)
        if untrusted is None and snapshot.unauthenticated:
            untrusted = "it was signed as one taken in unauthenticated"
        # Whatever the manifest says of itself: only its signature counts.
        return replace(snapshot, unauthenticated=untrusted is not None), untrusted

    def _untrusted(self, manifest: dict[str, Any]) -> str | None:
        """Why a manifest is not authenticated, or None."""
        return self._why_not_trusted() if self.key is None else self.key.problem(manifest)

    def _why_not_trusted(self) -> str:
        return ("no remote key is set on this machine" if self.key is None
                else "not signed with this machine's remote key")

    def download(self, snapshot_id: str, store: "SnapshotStore", *,
                 allow_unauthenticated: bool = False) -> Snapshot:
        """Bring a snapshot into the local store: each file streamed to a temporary
        directory and checked against the manifest's digest, then renamed into place
        with the manifest written last. A damaged or cut-off download leaves nothing.
        A snapshot that is not authenticated is refused before a byte is fetched,
        unless ``allow_unauthenticated``; taken in, it stays marked so."""
        final = store.path_of(snapshot_id)  # validates the id before it names a key
        snapshot, untrusted = self._read(snapshot_id)
        if untrusted is not None and not allow_unauthenticated:
            raise SnapshotNotAuthenticatedError(
                f"snapshot {snapshot.id} on the remote {self.url} is not authenticated: "
                f"{untrusted}; anyone who can write the bucket could have "
                "put it there, so it is not used: set the remote key that signed it "
                "(SAFEGUARD_REMOTE_KEY or remote_key_file), or pass --allow-unauthenticated "
                "to use it anyway")
        store.ensure_writable()
        store.ensure_space(snapshot.size)
        staging = store.snapshots_dir / f".tmp-{snapshot.id}"
        try:
            durable.make_dir(staging)
            with self._translated(f"cannot download snapshot {snapshot.id}"):
                for name, expected in snapshot.files.items():
                    target = staging / name
                    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    faults.point("remote:downloading")
                    self._client.download_file(self.bucket, self.key_of(snapshot.id, name), str(target),
                                               Config=self._transfer)
                    actual = digest.like(expected, target)
                    if actual != expected:
                        raise VerificationError(
                            f"snapshot {snapshot.id} on the remote is damaged: {name} has "
                            f"{digest.short(actual)}…, the manifest says {digest.short(expected)}…")
            durable.fsync_dir(staging)
            os.replace(staging, final)
            durable.write_json(final / MANIFEST, snapshot.to_dict())
            durable.fsync_dir(store.snapshots_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log.info("snapshot %s downloaded from %s and verified", snapshot.id, self.url)
        return snapshot

    # -- the client's errors, as one line each ---------------------------------

    def _keys(self, prefix: str) -> Iterator[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", ()):
                yield item["Key"]

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """botocore's and s3transfer's errors as safeguard's, naming the bucket."""
        from boto3.exceptions import Boto3Error
        from botocore import exceptions as bx
        from s3transfer import exceptions as tx

        where = f"{doing} on the remote {self.url}"
        try:
            yield
        except (bx.NoCredentialsError, bx.PartialCredentialsError) as exc:
            raise RemoteCredentialsError(
                f"{where}: no AWS credentials found (environment, shared config or profile, "
                "container or instance role)") from exc
        except bx.ClientError as exc:
            raise _classified(where, str(exc.response.get("Error", {}).get("Code", "")),
                              str(exc.response.get("Error", {}).get("Message", ""))) from exc
        except (bx.EndpointConnectionError, bx.HTTPClientError, bx.ConnectionError) as exc:
            raise RemoteUnreachableError(f"{where}: the endpoint cannot be reached "
                                         f"({type(exc).__name__})") from exc
        except (Boto3Error, tx.RetriesExceededError, tx.S3UploadFailedError,
                tx.S3DownloadFailedError) as exc:
            # The transfer manager wraps the client's error in a message of its own.
            text = str(exc)
            code = next((c for c in (*CREDENTIAL_CODES, *BUCKET_CODES) if c in text), "")
            if code:
                raise _classified(where, code, "") from exc
            raise RemoteUnreachableError(f"{where}: the transfer failed ({text.splitlines()[0][:200]})") from exc
        except bx.BotoCoreError as exc:
            raise RemoteError(f"{where}: {type(exc).__name__}") from exc


def _classified(where: str, code: str, message: str) -> RemoteError:
    if code in BUCKET_CODES:
        return RemoteBucketError(f"{where}: the bucket does not exist")
    if code in CREDENTIAL_CODES:
        return RemoteCredentialsError(f"{where}: the service refused the credentials ({code})")
    return RemoteError(f"{where}: {code or 'error'}{': ' + message if message else ''}")


def of(settings: Settings) -> Remote | None:
    """The project's remote, or None when none is configured."""
    return Remote(settings) if settings.remote else None


class Uploads:
    """The uploads an operation started, each in a thread beside the operation's own
    work; ``wait`` collects them (the operation's report waits for it before exit)."""

    def __init__(self, settings: Settings, store: "SnapshotStore") -> None:
        self.settings = settings
        self.store = store
        self._remote: Remote | None = None
        self._running: list[tuple[threading.Thread | None, dict[str, RemoteCopy]]] = []
        #: The snapshots whose upload this workspace started.
        self.started: set[str] = set()

    @property
    def remote(self) -> Remote | None:
        if self._remote is None and self.settings.remote:
            self._remote = Remote(self.settings)
        return self._remote

    def preflight(self) -> None:
        """With ``remote_required``, refuse now (nothing changed) if the remote cannot
        be written."""
        remote = self.remote
        if remote is not None and remote.required:
            try:
                remote.ensure_writable()
            except RemoteError as exc:
                raise type(exc)(f"remote_required: {exc}; nothing was changed") from exc

    def start(self, snapshot: Snapshot) -> threading.Thread | None:
        """Upload a snapshot proven in the local store, in a thread (returned; None when
        there is nothing to upload to)."""
        self.started.add(snapshot.id)
        box: dict[str, RemoteCopy] = {}
        try:
            remote = self.remote
        except SafeguardError as exc:  # no boto3, an unknown profile: the snapshot stays local
            box["copy"] = RemoteCopy(snapshot.id, error=exc.message)
            self._running.append((None, box))
            return None
        if remote is None:
            return None
        directory = self.store.path_of(snapshot.id)

        def run() -> None:
            try:
                box["copy"] = RemoteCopy(snapshot.id, location=remote.upload(snapshot, directory))
            except Exception as exc:  # reported by wait(): the thread must not die silently
                box["copy"] = RemoteCopy(snapshot.id, error=str(exc) if isinstance(exc, RemoteError)
                                         else f"{type(exc).__name__}: {exc}")

        thread = threading.Thread(target=run, name=f"upload-{snapshot.id}", daemon=True)
        thread.start()
        self._running.append((thread, box))
        return thread

    def wait(self) -> list[RemoteCopy]:
        """Wait for every upload started; what became of each."""
        done = []
        for thread, box in self._running:
            if thread is not None:
                thread.join()
            done.append(box["copy"])
        self._running.clear()
        return done
