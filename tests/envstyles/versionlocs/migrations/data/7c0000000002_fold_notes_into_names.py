"""fold notes into names

Revision ID: 7c0000000002
Revises: 5e1a00000001
"""
from alembic import op

revision = "7c0000000002"
down_revision = "5e1a00000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE items SET name = name || ' (' || note || ')', note = NULL WHERE note IS NOT NULL")


def downgrade() -> None:
    pass
