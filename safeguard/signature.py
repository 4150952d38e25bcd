"""Authenticating what comes from the remote store: an HMAC over each manifest.

Whoever can write the bucket (a leaked bucket credential, a too-wide policy, a shared
bucket) could otherwise put any snapshot there: replace a payload and rewrite the
manifest's digests, plant one dated 2099 to become `latest`, or plant a dozen to push
every real snapshot out of retention. So a snapshot is uploaded with a signature over
its manifest, made with a key the user holds as a secret, never stored in the bucket:

    "signature": {"algorithm": "hmac-sha256", "key": "<key id>", "value": "<hex>"}

The HMAC-SHA256 covers the whole manifest but this field, serialised canonically
(sorted keys, no spaces, ASCII), after a domain line; the manifest names each payload
file's digest, and each file is checked against it on the way down, so the signature
covers the bytes too. The key id is an HMAC of a fixed string under the key (16 hex
digits): it tells "signed with another key" from "changed after it was signed" and
reveals nothing of the key.

The key comes from `SAFEGUARD_REMOTE_KEY` or the file `remote_key_file` names (never
from alembic.ini or pyproject.toml, which are committed): one key or several separated
by white space, the first signs and any verifies (a key rotation keeps the old one
beside the new until its snapshots are gone). A key is at least 32 characters
(`python -c "import secrets; print(secrets.token_urlsafe(32))"` makes one). It is never
printed, logged, journaled, written in a manifest or passed to a child process.
docs/remote.md states the trust model this gives.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from typing import Any, Mapping

from .errors import ConfigError

ALGORITHM = "hmac-sha256"
FIELD = "signature"
MIN_LENGTH = 32
#: What the MAC is over begins with this line: a signature made for anything else never
#: verifies here.
DOMAIN = b"safeguard snapshot manifest v1\n"


class ManifestKey:
    """The remote key(s): the first signs, any verifies. Never shown."""

    def __init__(self, secrets: list[bytes]) -> None:
        self._secrets = secrets

    def __repr__(self) -> str:
        return f"ManifestKey(id={self.key_id}, {len(self._secrets)} key(s), secret not shown)"

    @classmethod
    def parse(cls, text: str, *, source: str = "the remote key") -> "ManifestKey":
        """Key(s) from their text (white space separates several); ConfigError, naming
        ``source`` but never the key, when one is too short to be a secret."""
        words = text.split()
        if not words:
            raise ConfigError(f"{source} is empty")
        for number, word in enumerate(words, 1):
            if len(word) < MIN_LENGTH:
                which = f"key {number} of {len(words)}" if len(words) > 1 else "the key"
                raise ConfigError(
                    f"{source}: {which} is {len(word)} characters, fewer than {MIN_LENGTH} (make "
                    "one with: python -c \"import secrets; print(secrets.token_urlsafe(32))\")")
        return cls([word.encode() for word in words])

    @property
    def key_id(self) -> str:
        """The id of the key that signs."""
        return _key_id(self._secrets[0])

    def sign(self, manifest: Mapping[str, Any]) -> dict[str, str]:
        """The signature field for ``manifest`` (its own signature field ignored)."""
        return {"algorithm": ALGORITHM, "key": self.key_id,
                "value": _mac(self._secrets[0], manifest)}

    def problem(self, manifest: Mapping[str, Any]) -> str | None:
        """Why ``manifest`` is not authenticated by these keys, or None when it is."""
        found = manifest.get(FIELD)
        if not isinstance(found, dict) or not isinstance(found.get("value"), str):
            return "it carries no signature"
        if found.get("algorithm") != ALGORITHM:
            return f"its signature is of an unknown kind ({str(found.get('algorithm'))[:40]!r})"
        for secret in self._secrets:
            if hmac.compare_digest(_mac(secret, manifest), found["value"]):
                return None
        ids = {_key_id(secret) for secret in self._secrets}
        if found.get("key") in ids:
            return "its signature does not match (it was changed after it was signed)"
        return (f"it was signed with another key (key id {str(found.get('key'))[:16]}; this "
                f"machine's: {', '.join(sorted(ids))})")


def _canonical(manifest: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != FIELD}
    return DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                               allow_nan=False).encode()


def _mac(secret: bytes, manifest: Mapping[str, Any]) -> str:
    return hmac.new(secret, _canonical(manifest), hashlib.sha256).hexdigest()


def _key_id(secret: bytes) -> str:
    return hmac.new(secret, b"safeguard remote key id", hashlib.sha256).hexdigest()[:16]


def key_of(settings: Any) -> ManifestKey | None:
    """The remote key a config.Settings names (SAFEGUARD_REMOTE_KEY, else the file
    remote_key_file names), or None. A key file others can read is refused: it is a
    secret, as ssh treats its private keys."""
    if settings.remote_key:
        return ManifestKey.parse(settings.remote_key, source=_source(settings, "remote_key"))
    path = settings.remote_key_path
    if path is None:
        return None
    source = f"remote_key_file {path}"
    try:
        found = os.stat(path)
        if found.st_mode & 0o077:
            raise ConfigError(f"{source} can be read or written by others (mode "
                              f"{stat.S_IMODE(found.st_mode):04o}): chmod 600 {path}")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source} cannot be read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source} is not text") from exc
    return ManifestKey.parse(text, source=source)


def _source(settings: Any, key: str) -> str:
    return f"remote_key ({settings.sources.get(key, 'set in code')})"
