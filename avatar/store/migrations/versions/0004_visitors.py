"""Visitors without a login: when each was last seen, so the recordings of those who never come
back can be deleted.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "visitors",
        sa.Column("owner", sa.String(32), primary_key=True),  # owner_key of the browser's token
        sa.Column("last_seen", sa.Float, nullable=False),  # Unix time
    )


def downgrade() -> None:
    op.drop_table("visitors")
