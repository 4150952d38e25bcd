"""drop item notes

Revision ID: 8d0000000003
Revises: 5e1a00000001
"""
import sqlalchemy as sa
from alembic import op

revision = "8d0000000003"
down_revision = "5e1a00000001"
branch_labels = ("cleanup",)
depends_on = None


def upgrade() -> None:
    op.drop_column("items", "note")


def downgrade() -> None:
    op.add_column("items", sa.Column("note", sa.Text))
