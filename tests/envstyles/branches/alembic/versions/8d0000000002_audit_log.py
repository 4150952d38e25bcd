"""audit log

Revision ID: 8d0000000002
Revises: 5e1a00000001
"""
import sqlalchemy as sa
from alembic import op

revision = "8d0000000002"
down_revision = "5e1a00000001"
branch_labels = ("audit",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
