"""Finding codes (shared/corpus/README.md) and how they decide a verdict.

Every code names a way a revision can lose or rewrite data, or make the migration
fail on existing data, so any finding makes a revision destructive. The one
exception is a revision whose *only* findings are UN101: nothing about it could be
determined, and its verdict is ``unknown`` (which callers treat as destructive).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

DROP_SCHEMA = "DS101"
DROP_TABLE = "DS102"
DROP_COLUMN = "DS103"
DELETE_ROWS = "DS104"
UPDATE_ROWS = "DS105"
RENAME_TABLE = "BC101"
RENAME_COLUMN = "BC102"
ADD_UNIQUE = "MF101"
ADD_NOT_NULL_COLUMN = "MF103"
SET_NOT_NULL = "MF104"
CHANGE_TYPE = "TC101"
UNANALYSABLE = "UN101"

#: What each code means, in the words of the corpus README.
MEANINGS: dict[str, str] = {
    DROP_SCHEMA: "drops a schema",
    DROP_TABLE: "drops a table",
    DROP_COLUMN: "drops a column",
    DELETE_ROWS: "truncates or deletes rows",
    UPDATE_ROWS: "updates existing rows in place",
    RENAME_TABLE: "renames a table",
    RENAME_COLUMN: "renames a column",
    ADD_UNIQUE: "adds a unique index or constraint on existing columns",
    ADD_NOT_NULL_COLUMN: "adds a NOT NULL column without a server default to an existing table",
    SET_NOT_NULL: "makes an existing column NOT NULL",
    CHANGE_TYPE: "changes a column's type",
    UNANALYSABLE: "cannot be analysed statically",
}

Verdict = Literal["destructive", "safe", "unknown"]
"""A revision's verdict; ``unknown`` is treated as destructive (fail safe)."""

DESTRUCTIVE: Verdict = "destructive"
SAFE: Verdict = "safe"
UNKNOWN: Verdict = "unknown"


def verdict_for(codes: Iterable[str]) -> Verdict:
    """Return ``safe``, ``unknown`` or ``destructive`` for a revision's finding codes.

    ``unknown`` only when UN101 is all there is: as soon as anything concrete was
    recognised the revision is plainly destructive.
    """
    present = set(codes)
    if not present:
        return SAFE
    if present == {UNANALYSABLE}:
        return UNKNOWN
    return DESTRUCTIVE
