"""add item sku (items already exists)

Revision ID: 9e0000000001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "9e0000000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("sku", sa.String(20)))


def downgrade() -> None:
    op.drop_column("items", "sku")
