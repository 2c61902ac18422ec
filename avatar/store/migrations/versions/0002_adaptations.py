"""Adaptation jobs and adapted presenters, shared by every replica and worker.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "adaptations",
        sa.Column("owner", sa.String(32), primary_key=True),
        sa.Column("base", sa.String(128), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("share", sa.Float, nullable=False),
        sa.Column("model", sa.String(128)),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_table(
        "presenters",
        sa.Column("owner", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("files", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("presenters")
    op.drop_table("adaptations")
