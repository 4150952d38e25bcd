"""drop note, shorten name

Revision ID: 6b0000000003
Revises: 6b0000000002
"""
import sqlalchemy as sa
from alembic import op

revision = "6b0000000003"
down_revision = "6b0000000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_column("note")
        batch_op.alter_column("name", existing_type=sa.String(80), type_=sa.String(40))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.alter_column("name", existing_type=sa.String(40), type_=sa.String(80))
        batch_op.add_column(sa.Column("note", sa.Text))
