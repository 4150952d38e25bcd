"""What one operation does to existing data, independent of where it was found.

Both analyses (the Python AST walk and the SQL statement classifier) describe what
they recognise as :class:`Effect` values built by the functions below, so the same
operation gets the same wording whichever analysis saw it; that is also what lets
the classifier merge the two results line by line.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import codes

#: Stands in for a name only known at run time (an interpolated f-string field,
#: a loop variable over the live catalog...). A valid SQL identifier, so
#: templates that contain it still parse.
RUNTIME_NAME = "__runtime_value__"
#: How every UN101 message starts.
UNANALYSABLE_PREFIX = "cannot be analysed statically: "


@dataclass(frozen=True)
class Effect:
    """A finding without its line: a code and a message naming table and column."""

    code: str
    message: str
    #: Why this effect does not count towards the verdict (a project's declaration,
    #: see declared.py), or None: it counts.
    resolution: str | None = None


def display(name: str | None) -> str:
    """How a table or column name appears in messages."""
    if not name or RUNTIME_NAME in name:
        return "<name known only at run time>"
    return name


def _col(table: str | None, column: str | None) -> str:
    return f"{display(table)}.{display(column)}"


def drops_schema(name: str | None) -> Effect:
    """DS101."""
    return Effect(codes.DROP_SCHEMA, f"drops schema {display(name)}")


def drops_table(name: str | None) -> Effect:
    """DS102."""
    return Effect(codes.DROP_TABLE, f"drops table {display(name)}")


def drops_column(table: str | None, column: str | None) -> Effect:
    """DS103."""
    return Effect(codes.DROP_COLUMN, f"drops column {_col(table, column)}")


def deletes_rows(table: str | None, how: str = "deletes rows from") -> Effect:
    """DS104 (``how`` distinguishes DELETE, TRUNCATE and ORM deletes)."""
    return Effect(codes.DELETE_ROWS, f"{how} {display(table)}")


def truncates(table: str | None) -> Effect:
    """DS104 for TRUNCATE."""
    return Effect(codes.DELETE_ROWS, f"truncates table {display(table)}")


def updates_rows(table: str | None, column: str | None = None, how: str = "") -> Effect:
    """DS105; names the column when it is known."""
    target = _col(table, column) if column else f"rows of {display(table)}"
    suffix = f" {how}" if how else ""
    return Effect(codes.UPDATE_ROWS, f"updates {target} in place{suffix}")


def drops_dependent_columns(what: str) -> Effect:
    """DS103 for a DROP ... CASCADE of a type, domain or extension: PostgreSQL drops
    every column of a type it defines along with it."""
    return Effect(codes.DROP_COLUMN, f"drops {what} with CASCADE: PostgreSQL also drops every "
                                     "column whose type depends on it")


def rewrites_enum_value(enum: str, old: str, new: str, columns: str | None, how: str) -> Effect:
    """DS105 for an enum value renamed: every row that held ``old`` now holds ``new``."""
    where = columns or f"every column of type {enum}"
    return Effect(codes.UPDATE_ROWS, f"rewrites enum value '{old}' to '{new}' in {where} {how}")


def removes_enum_values(enum: str, values: list[str] | None, columns: str | None, how: str) -> Effect:
    """MF105: a row holding a removed value makes the conversion fail; nothing is lost.
    ``values`` is None when the values before the revision are not stated."""
    rows = f"a row of {columns}" if columns else f"a row of any column of type {enum}"
    if values is None:
        return Effect(codes.REMOVE_ENUM_VALUE,
                      f"may remove values from enum type {enum} {how} (its values before this "
                      f"revision are not stated): the migration fails if {rows} holds a removed "
                      "one, and loses nothing")
    listed = ", ".join(f"'{v}'" for v in values)
    return Effect(codes.REMOVE_ENUM_VALUE,
                  f"removes value(s) {listed} from enum type {enum} {how}: the migration fails "
                  f"if {rows} holds one, and loses nothing")


def renames_table(old: str | None, new: str | None) -> Effect:
    """BC101."""
    return Effect(codes.RENAME_TABLE, f"renames table {display(old)} to {display(new)}")


def renames_column(table: str | None, old: str | None, new: str | None) -> Effect:
    """BC102."""
    return Effect(
        codes.RENAME_COLUMN, f"renames column {_col(table, old)} to {display(new)}"
    )


def probable_rename(table: str, old: str, new: str) -> Effect:
    """BC102 for autogenerate's drop+add of what is really one column renamed."""
    return Effect(
        codes.RENAME_COLUMN,
        f"probable rename of {table}.{old} to {table}.{new}: autogenerate writes "
        "drop+add, which loses the column's data; write "
        f"op.alter_column('{table}', '{old}', new_column_name='{new}')",
    )


def adds_unique(table: str | None, columns: str | None, what: str = "unique constraint") -> Effect:
    """MF101: fails on existing duplicates (and rebuilds the table in batch mode)."""
    cols = f"({columns})" if columns else ""
    return Effect(codes.ADD_UNIQUE, f"adds {what} on existing table {display(table)}{cols}")


def adds_not_null_column(table: str | None, column: str | None) -> Effect:
    """MF103."""
    return Effect(
        codes.ADD_NOT_NULL_COLUMN,
        f"adds NOT NULL column {_col(table, column)} without a server default "
        "to an existing table",
    )


def sets_not_null(table: str | None, column: str | None) -> Effect:
    """MF104."""
    return Effect(codes.SET_NOT_NULL, f"makes existing column {_col(table, column)} NOT NULL")


def changes_type(table: str | None, column: str | None, old: str | None, new: str | None) -> Effect:
    """TC101; shows the old type when the revision states it."""
    change = f" from {old} to {new}" if old and new else (f" to {new}" if new else "")
    return Effect(codes.CHANGE_TYPE, f"changes the type of {_col(table, column)}{change}")


def unanalysable(reason: str) -> Effect:
    """UN101: the effect depends on something only known at run time."""
    return Effect(codes.UNANALYSABLE, UNANALYSABLE_PREFIX + reason)
