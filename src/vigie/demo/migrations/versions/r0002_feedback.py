"""Create the feedback table: readers' ratings of answers.

Revision ID: 0002_feedback
Revises: 0001_questions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_feedback"
down_revision = "0001_questions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """One row per rating, linked to the answered question."""
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("question_id", sa.Integer, sa.ForeignKey("questions.id"), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("rating", sa.String(8), nullable=False),
    )


def downgrade() -> None:
    """Drop the feedback table."""
    op.drop_table("feedback")
