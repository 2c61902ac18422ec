"""A team's question-and-answer corpora (their versions, one active) and the questions the
presenter could not answer.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "corpora",
        sa.Column("version", sa.String(32), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("files", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("pairs", sa.Integer, nullable=False),
        sa.Column("phrasings", sa.Integer, nullable=False),
        sa.Column("fallback", sa.Text),
        sa.Column("greeting", sa.Text),
        sa.Column("loaded_by", sa.String(32)),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "unanswered",
        sa.Column("corpus", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first_asked", sa.Float, nullable=False),
        sa.Column("last_asked", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("unanswered")
    op.drop_table("settings")
    op.drop_table("corpora")
