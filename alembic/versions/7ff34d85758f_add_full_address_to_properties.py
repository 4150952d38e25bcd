"""Add full_address to properties

Revision ID: 7ff34d85758f
Revises: e718c4af176b
Create Date: 2025-02-19 10:12:06.775931

Adds a denormalised "address, city, state" column and backfills it from the
existing rows.  It stays nullable: code that predates it may still insert rows
without it.

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "7ff34d85758f"
down_revision: Union[str, Sequence[str], None] = "e718c4af176b"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Reviewed: safeguard still snapshots before it, and `safeguard lint --strict` accepts it.
safeguard = {"destructive": True, "reason": "fills the new full_address column only; no existing value is overwritten"}


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("properties", sa.Column("full_address", sa.String(length=500), nullable=True))
    # SQLAlchemy's + on strings: `address || ', ' || ...` on SQLite and PostgreSQL,
    # concat() on MySQL (where || means OR).
    properties = sa.table("properties", *(sa.column(name, sa.String) for name in
                                          ("address", "city", "state", "full_address")))
    op.execute(
        properties.update()
        .where(properties.c.address.isnot(None))
        .values(full_address=properties.c.address + ", " + properties.c.city + ", "
                + properties.c.state)
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("properties") as batch_op:
        batch_op.drop_column("full_address")
