"""drop item notes, index skus

Revision ID: 9e0000000002
Revises: 9e0000000001
"""
from alembic import op

revision = "9e0000000002"
down_revision = "9e0000000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("items", "note")
    op.create_index("ix_items_sku", "items", ["sku"])


def downgrade() -> None:
    op.drop_index("ix_items_sku", table_name="items")
    op.execute("ALTER TABLE items ADD COLUMN note TEXT")
