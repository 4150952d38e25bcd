"""drop item notes

Revision ID: 5e1a00000003
Revises: 5e1a00000002
"""
import sqlalchemy as sa
from alembic import op

revision = "5e1a00000003"
down_revision = "5e1a00000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("items", "note")


def downgrade() -> None:
    op.add_column("items", sa.Column("note", sa.Text))
