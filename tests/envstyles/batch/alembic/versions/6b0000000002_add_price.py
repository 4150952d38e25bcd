"""add price

Revision ID: 6b0000000002
Revises: 5e1a00000001
"""
import sqlalchemy as sa
from alembic import op

revision = "6b0000000002"
down_revision = "5e1a00000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("price", sa.Numeric(10, 2)))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_column("price")
