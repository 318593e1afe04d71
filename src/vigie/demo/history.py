"""The FAQ assistant's history: answered questions and ratings, in SQLite (or any SQLAlchemy URL).

The schema is owned by Alembic migrations shipped in the package (``vigie/demo/migrations``:
``0001_questions``, then ``0002_feedback``). :func:`migrate` runs them from Python, to head or to
any revision: the ``schema`` drill starts the app one revision behind (``behind=1``), so that the
``schema`` health check names the missing revision, exactly what a deployment that forgot
``alembic upgrade head`` looks like.

No question text is stored: only the strategy, the category, the matched entry and the scores.

Example::

    from sqlalchemy import create_engine
    from vigie.demo.history import History, migrate

    engine = create_engine("sqlite:///faq.db")
    migrate(engine)                    # to head; migrate(engine, behind=1) for the drill
    history = History(engine)
    question_id = history.add_question("rag", "identity", 1, 0.92, 412.0)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vigie.exceptions import ConfigurationError

__all__ = [
    "METADATA",
    "MIGRATIONS",
    "History",
    "current_revision",
    "head_revision",
    "migrate",
    "revisions",
]

#: The Alembic script folder shipped in the package.
MIGRATIONS = Path(__file__).with_name("migrations")

METADATA = sa.MetaData()
QUESTIONS = sa.Table(
    "questions",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("strategy", sa.String(16), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("faq_id", sa.Integer, nullable=True),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
)
FEEDBACK = sa.Table(
    "feedback",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("question_id", sa.Integer, sa.ForeignKey("questions.id"), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("rating", sa.String(8), nullable=False),
)


def _config(connection: sa.Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def revisions() -> list[str]:
    """The revision ids, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def head_revision() -> str:
    """The newest revision id."""
    return revisions()[-1]


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, revision: str = "head", *, behind: int = 0) -> str | None:
    """Upgrade or downgrade the database to ``revision`` (``head``, ``base`` or an id), or to
    ``behind`` revisions before head; returns the revision reached (None for ``base``).

    An unknown revision, or ``behind`` beyond the number of revisions, is a
    :class:`ConfigurationError`.
    """
    from alembic import command

    known = revisions()
    if behind:
        if not 0 < behind <= len(known):
            raise ConfigurationError(
                f"behind must be in 0..{len(known)} (there are {len(known)} revisions), "
                f"got {behind}",
                field="schema_behind",
            )
        wanted = len(known) - 1 - behind  # -1 means base: nothing applied
    elif revision == "head":
        wanted = len(known) - 1
    elif revision == "base":
        wanted = -1
    elif revision in known:
        wanted = known.index(revision)
    else:
        raise ConfigurationError(
            f"unknown revision {revision!r}; known: head, base, {', '.join(known)}",
            field="revision",
        )
    with engine.begin() as connection:
        config = _config(connection)
        current = current_revision_on(connection)
        now = -1 if current is None else known.index(current)
        if wanted > now:
            command.upgrade(config, known[wanted])
        elif wanted < now:
            command.downgrade(config, known[wanted] if wanted >= 0 else "base")
    return current_revision(engine)


def current_revision_on(connection: sa.Connection) -> str | None:
    """The revision of the database behind an open ``connection``."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


class History:
    """Writes and reads the history tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_question(
        self,
        strategy: str,
        category: str,
        faq_id: int | None,
        confidence: float,
        duration_ms: float,
    ) -> int:
        """Store one answered question; returns its id."""
        with self.engine.begin() as connection:
            result = connection.execute(
                QUESTIONS.insert().values(
                    created_at=time.time(),
                    strategy=strategy,
                    category=category,
                    faq_id=faq_id,
                    confidence=confidence,
                    duration_ms=duration_ms,
                )
            )
            key = result.inserted_primary_key
            return int(key[0]) if key is not None else 0

    def has_question(self, question_id: int) -> bool:
        """True when ``question_id`` was stored."""
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(QUESTIONS.c.id).where(QUESTIONS.c.id == question_id)
            ).first()
        return found is not None

    def add_feedback(self, question_id: int, rating: str) -> None:
        """Store one rating (fails with the database's error when the table is missing)."""
        with self.engine.begin() as connection:
            connection.execute(
                FEEDBACK.insert().values(
                    question_id=question_id, created_at=time.time(), rating=rating
                )
            )

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The last ``limit`` answered questions, newest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(QUESTIONS).order_by(QUESTIONS.c.id.desc()).limit(limit)
            ).mappings()
            return [dict(row) for row in rows]
