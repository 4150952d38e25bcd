"""Rename property_type to usage_type

Revision ID: 7fcb413ce398
Revises: 1580131d7fd2
Create Date: 2025-01-08 14:21:53.610472

Autogenerate sees a rename as DROP + ADD, which would lose every value; this
revision was edited by hand to rename the column in place.

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = "7fcb413ce398"
down_revision: Union[str, Sequence[str], None] = "1580131d7fd2"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Reviewed: safeguard still snapshots before it, and `safeguard lint --strict` accepts it.
safeguard = {"destructive": True, "reason": "renames property_type in place with alter_column; no data is dropped"}


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("properties") as batch_op:
        # existing_type/existing_nullable: MySQL renames with CHANGE COLUMN, which restates
        # the column's definition (SQLite and PostgreSQL do not need them).
        batch_op.alter_column("property_type", new_column_name="usage_type",
                              existing_type=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("properties") as batch_op:
        batch_op.alter_column("usage_type", new_column_name="property_type",
                              existing_type=sa.Text(), existing_nullable=True)
