"""Revision files written by the tests of application-shaped projects (a Flask-Migrate
app, a start-up recipe): a notes table with rows, then a destructive change."""

from __future__ import annotations

import textwrap
from pathlib import Path

TEMPLATE = '''"""{doc}

Revision ID: {rev}
Revises: {down}
"""
import sqlalchemy as sa
from alembic import op

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{body}


def downgrade():
    pass
'''

#: Create notes(id, body, legacy) with three rows.
CREATE_NOTES = '''op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("body", sa.Text, nullable=False), sa.Column("legacy", sa.Text))
op.execute("INSERT INTO notes (body, legacy) VALUES ('one', 'a'), ('two', 'b'), ('three', 'c')")'''
#: Destructive: the legacy column and its values go.
DROP_LEGACY = 'op.drop_column("notes", "legacy")'


def write_revision(versions: Path, rev: str, down: str | None, body: str, doc: str) -> Path:
    """Write ``versions/<rev>.py`` whose upgrade() is ``body``."""
    path = versions / f"{rev}.py"
    path.write_text(TEMPLATE.format(rev=rev, down=down, doc=doc, body=textwrap.indent(body, "    ")))
    return path


def notes_of(db: Path) -> list[tuple]:
    """Every row of the notes table of a SQLite file."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT * FROM notes ORDER BY id").fetchall()
    finally:
        conn.close()
