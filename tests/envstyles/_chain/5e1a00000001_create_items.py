"""create items

Revision ID: 5e1a00000001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "5e1a00000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("note", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("items")
