"""The shared state: recordings, the answer index and chat history.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("owner", sa.String(32), primary_key=True),
        sa.Column("clip", sa.String(32), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("video", sa.String(255), nullable=False),
        sa.Column("audio", sa.String(255)),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("fps", sa.Float, nullable=False),
        sa.Column("face_share", sa.Float, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
    )
    op.create_table(
        "answers",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("video", sa.String(255), nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("driver", sa.String(16), nullable=False),
        sa.Column("rec_owner", sa.String(32)),
        sa.Column("rec_clip", sa.String(32)),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("used", sa.Float, nullable=False),
    )
    op.create_index("answers_by_recording", "answers", ["rec_owner", "rec_clip"])
    op.create_index("answers_by_use", "answers", ["used"])
    op.create_table(
        "exchanges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session", sa.String(128), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("reply", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("exchanges_by_session", "exchanges", ["session", "id"])
    op.create_index("exchanges_by_time", "exchanges", ["at"])


def downgrade() -> None:
    op.drop_table("exchanges")
    op.drop_table("answers")
    op.drop_table("recordings")
