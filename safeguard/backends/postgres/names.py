"""The names of the auxiliary databases safeguard creates beside a database ``D``.

Every one of them is ``D`` plus a fixed suffix, so an operator (and `recover`) can tell
from `\\l` alone what each one is and what a crash left behind:

    D.sg-restoring   a snapshot being restored; incomplete until renamed; always droppable
    D.sg-ready       a complete restore, waiting to be swapped in for D
    D.sg-old         D as it was before the swap (the failed migration); dropped after it
    D.sg-verify      a scratch restore made by `snapshot verify`; always droppable
    D.sg-snap-TOKEN  a template snapshot (pg_strategy = template)
    D.sg-kept-ID     the database a manual restore replaced, kept as its safety
                     snapshot ID (kept.py); dropped when that snapshot is pruned
    D.sg-rehearse-T  the copy a rehearsal migrates (`safeguard rehearse`); droppable
                     once no rehearsal holds its lock
    D.sg-sg_beside_S the scratch restore of snapshot S on its way to a schema of the
                     live database (beside.py; sg_diff_S for `safeguard diff`);
                     always droppable

PostgreSQL truncates identifiers longer than 63 bytes (with only a NOTICE), which could
make two of these names collide, so a long ``D`` is shortened and a hash of the full
name keeps it unique.
"""

from __future__ import annotations

import hashlib

#: NAMEDATALEN - 1: the longest identifier PostgreSQL keeps whole.
MAX_BYTES = 63

RESTORING = ".sg-restoring"
READY = ".sg-ready"
OLD = ".sg-old"
VERIFY = ".sg-verify"
SNAPSHOT = ".sg-snap-"
KEPT = ".sg-kept-"
REHEARSAL = ".sg-rehearse-"
BESIDE = ".sg-"
#: A rehearsal's token: this many lowercase hex digits, so the names of every copy of
#: one database differ only there (and one LIKE pattern finds them all).
TOKEN_LENGTH = 8


def restoring(database: str) -> str:
    """Where a snapshot is being restored (incomplete)."""
    return _derived(database, RESTORING)


def ready(database: str) -> str:
    """A complete restore waiting to be swapped in."""
    return _derived(database, READY)


def old(database: str) -> str:
    """The swapped-out database, between the two renames of a swap."""
    return _derived(database, OLD)


def verify(database: str) -> str:
    """The scratch database of a payload verification."""
    return _derived(database, VERIFY)


def snapshot(database: str, token: str) -> str:
    """A template snapshot of ``database``."""
    return _derived(database, SNAPSHOT + token)


def kept(database: str, snapshot_id: str) -> str:
    """The kept database of safety snapshot ``snapshot_id``."""
    return _derived(database, KEPT + snapshot_id)


def rehearsal(database: str, token: str) -> str:
    """The copy that rehearsal ``token`` migrates."""
    if len(token) != TOKEN_LENGTH or not all(c in "0123456789abcdef" for c in token):
        raise ValueError(f"invalid rehearsal token {token!r}")
    return _derived(database, REHEARSAL + token)


def beside(database: str, key: str) -> str:
    """The scratch database of the beside copy ``key`` (see beside.py)."""
    return _derived(database, BESIDE + key)


def rehearsal_pattern(database: str) -> str:
    """A LIKE pattern matching the name of every rehearsal copy of ``database``."""
    name = rehearsal(database, "0" * TOKEN_LENGTH)[:-TOKEN_LENGTH]
    escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "_" * TOKEN_LENGTH


def _derived(database: str, suffix: str) -> str:
    name = database + suffix
    if len(name.encode()) <= MAX_BYTES:
        return name
    digest = hashlib.sha256(database.encode()).hexdigest()[:8]
    room = MAX_BYTES - len(suffix.encode()) - len(digest) - 1
    head = database.encode()[:room].decode(errors="ignore")  # never split a character
    return f"{head}~{digest}{suffix}"
