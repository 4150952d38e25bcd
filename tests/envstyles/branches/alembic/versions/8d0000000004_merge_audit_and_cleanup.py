"""merge audit and cleanup

Revision ID: 8d0000000004
Revises: 8d0000000002, 8d0000000003
"""

revision = "8d0000000004"
down_revision = ("8d0000000002", "8d0000000003")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
