"""What the operator should see: questions given the fallback, questions the presenter asked back
about (unsure between near answers), and answers a visitor marked as not helpful, in one table
(`misses`, one row per corpus, kind and question) that replaces `unanswered`.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "misses",
        sa.Column("corpus", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),  # "unanswered", "unsure" or "unhelpful"
        sa.Column("key", sa.String(32), primary_key=True),  # hash of the normalised question
        sa.Column("question", sa.Text, nullable=False),  # as first typed
        sa.Column("answer", sa.Text),  # what the presenter said (unhelpful), the suggestions (unsure)
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first_asked", sa.Float, nullable=False),
        sa.Column("last_asked", sa.Float, nullable=False),
    )
    op.execute("INSERT INTO misses (corpus, kind, key, question, answer, count, first_asked, last_asked) "
               "SELECT corpus, 'unanswered', key, question, NULL, count, first_asked, last_asked FROM unanswered")
    op.drop_table("unanswered")


def downgrade() -> None:
    op.create_table(
        "unanswered",
        sa.Column("corpus", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first_asked", sa.Float, nullable=False),
        sa.Column("last_asked", sa.Float, nullable=False),
    )
    op.execute("INSERT INTO unanswered SELECT corpus, key, question, count, first_asked, last_asked FROM misses "
               "WHERE kind = 'unanswered'")
    op.drop_table("misses")
