"""Add tenants table

Revision ID: 1580131d7fd2
Revises: 487abfc8c902
Create Date: 2024-12-10 11:47:19.264583

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "1580131d7fd2"
down_revision: Union[str, Sequence[str], None] = "487abfc8c902"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("property_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=30), nullable=True),
        sa.Column("lease_start", sa.Date(), nullable=False),
        sa.Column("lease_end", sa.Date(), nullable=True),
        sa.Column("monthly_rent", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["property_id"], ["properties.id"], name="fk_tenants_property_id_properties"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tenants_property_id", "tenants", ["property_id"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_tenants_property_id", table_name="tenants")
    op.drop_table("tenants")
