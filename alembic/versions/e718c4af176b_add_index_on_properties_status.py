"""Add index on properties.status

Revision ID: e718c4af176b
Revises: de2d457f8ad0
Create Date: 2025-02-03 15:38:44.092617

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = "e718c4af176b"
down_revision: Union[str, Sequence[str], None] = "de2d457f8ad0"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index("ix_properties_status", "properties", ["status"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_properties_status", table_name="properties")
