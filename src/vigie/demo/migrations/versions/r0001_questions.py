"""Create the questions table: one row per answered question.

Revision ID: 0001_questions
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_questions"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Questions keep their strategy, category and confidence, never the question's text."""
    op.create_table(
        "questions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("faq_id", sa.Integer, nullable=True),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
    )
    op.create_index("ix_questions_created_at", "questions", ["created_at"])


def downgrade() -> None:
    """Drop the questions table."""
    op.drop_index("ix_questions_created_at", table_name="questions")
    op.drop_table("questions")
