"""What one revision has already done to the schema, as analysis proceeds.

Several rules depend on it: a NOT NULL column or a unique index on a table created
earlier in the same revision cannot fail on old rows, and dropping that table or
emptying it loses nothing that existed before the revision ran. A function created
earlier in the revision is what a later ``SELECT f()`` runs: its body is kept.
"""

from __future__ import annotations


def _key(name: str | None) -> str:
    # SQL folds unquoted identifiers; the op.* API passes names as written. No name is
    # "", which nothing is ever recorded under.
    return name.lower() if name else ""


class SchemaState:
    """Tables created and columns added so far by the revision being classified."""

    def __init__(self) -> None:
        self._new_tables: set[str] = set()
        self._new_columns: set[tuple[str, str]] = set()
        #: Functions and procedures the revision created: lower-cased name -> body
        #: text (None when the body could not be read).
        self.routines: dict[str, str | None] = {}

    def table_created(self, table: str | None) -> None:
        """Record that the revision created ``table``."""
        if table:
            self._new_tables.add(_key(table))

    def table_renamed(self, old: str | None, new: str | None) -> None:
        """A renamed new table is still new; a renamed old table still holds old rows."""
        if old and new and _key(old) in self._new_tables:
            self._new_tables.discard(_key(old))
            self._new_tables.add(_key(new))

    def table_dropped(self, table: str | None) -> None:
        """Forget ``table``: a later table of the same name is a different one."""
        if table:
            self._new_tables.discard(_key(table))

    def column_added(self, table: str | None, column: str | None) -> None:
        """Record that the revision added ``table.column``."""
        if table and column:
            self._new_columns.add((_key(table), _key(column)))

    def routine_created(self, name: str, body: str | None) -> None:
        """Record that the revision created function or procedure ``name`` (unqualified)."""
        self.routines[_key(name)] = body

    def is_new_table(self, table: str | None) -> bool:
        """True when ``table`` was created earlier in this revision."""
        return bool(table) and _key(table) in self._new_tables

    def is_new_column(self, table: str | None, column: str | None) -> bool:
        """True when ``table.column`` was added earlier in this revision (or its table was)."""
        if self.is_new_table(table):
            return True
        return bool(table and column) and (_key(table), _key(column)) in self._new_columns
