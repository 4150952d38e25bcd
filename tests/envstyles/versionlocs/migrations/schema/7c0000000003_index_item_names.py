"""index item names

Revision ID: 7c0000000003
Revises: 7c0000000002
"""
from alembic import op

revision = "7c0000000003"
down_revision = "7c0000000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_items_name", "items", ["name"])


def downgrade() -> None:
    op.drop_index("ix_items_name", table_name="items")
