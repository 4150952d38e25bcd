"""Finding codes (shared/corpus/README.md) and how they decide a verdict.

Two kinds of code. Most name a way a revision can lose or rewrite existing data (DS,
BC, TC): any of them makes a revision ``destructive``. Four only predict that the
migration may *fail* on existing data without losing any (MF101 a unique index on
duplicates, MF103 a NOT NULL column with no default, MF104 SET NOT NULL over NULLs,
MF105 an enum value removed while rows may hold it): they are warnings, shown by lint
and the plan, and leave the verdict alone, because every guarded run has an undo that
covers a failure (see undo.py). A revision whose *only* findings are UN101 is
``unknown``: nothing about it could be determined (callers treat it as destructive).

A finding can also be *resolved*: kept in the report with the reason it does not
count (a call the project declared safe, see declared.py), and left out of the verdict.
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
REMOVE_ENUM_VALUE = "MF105"
CHANGE_TYPE = "TC101"
UNANALYSABLE = "UN101"
#: Not a finding about data: a statement the run's transaction cannot hold.
OUTSIDE_TRANSACTION = "TX101"

#: What each code means, in the words of the corpus README.
MEANINGS: dict[str, str] = {
    DROP_SCHEMA: "drops a schema",
    DROP_TABLE: "drops a table",
    DROP_COLUMN: "drops a column",
    DELETE_ROWS: "truncates or deletes rows",
    UPDATE_ROWS: "updates existing rows in place",
    RENAME_TABLE: "renames a table",
    RENAME_COLUMN: "renames a column",
    ADD_UNIQUE: "warning: adds a unique index or constraint on existing columns "
                "(fails on duplicates, loses nothing)",
    ADD_NOT_NULL_COLUMN: "warning: adds a NOT NULL column without a server default to an "
                         "existing table (fails on a non-empty table, loses nothing)",
    SET_NOT_NULL: "warning: makes an existing column NOT NULL (fails on NULLs, loses nothing)",
    REMOVE_ENUM_VALUE: "warning: removes a value from an enum type (fails on a row that holds it, "
                       "loses nothing)",
    CHANGE_TYPE: "changes a column's type",
    UNANALYSABLE: "cannot be analysed statically",
    OUTSIDE_TRANSACTION: "runs outside the run's transaction (autocommit_block, CONCURRENTLY, ...)",
}

#: Codes that predict a failure on existing data, never a loss: warnings.
MAY_FAIL = frozenset({ADD_UNIQUE, ADD_NOT_NULL_COLUMN, SET_NOT_NULL, REMOVE_ENUM_VALUE})

Verdict = Literal["destructive", "safe", "unknown"]
"""A revision's verdict; ``unknown`` is treated as destructive (fail safe)."""

#: The kind of a resolved finding (kept in the report, left out of the verdict).
RESOLVED = "resolved"

DESTRUCTIVE: Verdict = "destructive"
SAFE: Verdict = "safe"
UNKNOWN: Verdict = "unknown"


def verdict_for(codes: Iterable[str]) -> Verdict:
    """Return ``safe``, ``unknown`` or ``destructive`` for a revision's finding codes.

    May-fail codes (:data:`MAY_FAIL`) do not count; callers leave resolved findings
    out. ``unknown`` only when UN101 is all there is: as soon as anything concrete
    was recognised the revision is plainly destructive.
    """
    present = set(codes) - MAY_FAIL
    if not present:
        return SAFE
    if present == {UNANALYSABLE}:
        return UNKNOWN
    return DESTRUCTIVE


def kind_of(code: str) -> str:
    """``may-fail`` for a warning code, ``unknown`` for UN101, else ``destructive``."""
    if code in MAY_FAIL:
        return "may-fail"
    return UNKNOWN if code == UNANALYSABLE else DESTRUCTIVE
