"""Add property_manager to properties

Revision ID: 487abfc8c902
Revises: b60d3cbe6a3c
Create Date: 2024-11-29 16:02:41.907316

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "487abfc8c902"
down_revision: Union[str, Sequence[str], None] = "b60d3cbe6a3c"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "properties", sa.Column("property_manager", sa.String(length=200), nullable=True)
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("properties") as batch_op:
        batch_op.drop_column("property_manager")
