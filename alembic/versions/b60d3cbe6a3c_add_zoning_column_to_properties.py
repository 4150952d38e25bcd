"""Add zoning column to properties

Revision ID: b60d3cbe6a3c
Revises: 63f5e369059c
Create Date: 2024-11-15 10:30:00.123456

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "b60d3cbe6a3c"
down_revision: Union[str, Sequence[str], None] = "63f5e369059c"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("properties", sa.Column("zoning", sa.String(length=50), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    # SQLite cannot always DROP COLUMN in place; batch mode copies the table.
    with op.batch_alter_table("properties") as batch_op:
        batch_op.drop_column("zoning")
