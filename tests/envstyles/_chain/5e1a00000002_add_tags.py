"""add tags

Revision ID: 5e1a00000002
Revises: 5e1a00000001
"""
import sqlalchemy as sa
from alembic import op

revision = "5e1a00000002"
down_revision = "5e1a00000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False),
        sa.Column("label", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tags")
