"""The history database and its Alembic migrations shipped in the package."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from vigie.demo.history import History, current_revision, head_revision, migrate, revisions
from vigie.exceptions import ConfigurationError


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:  # type: ignore[misc]
    """A SQLite file database, disposed after the test."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'faq.db'}")
    yield engine
    engine.dispose()


def test_two_revisions_to_head_and_back(engine: sa.Engine) -> None:
    """0001_questions then 0002_feedback; behind=1 downgrades, head upgrades, base empties."""
    assert revisions() == ["0001_questions", "0002_feedback"]
    assert head_revision() == "0002_feedback"
    assert current_revision(engine) is None
    assert migrate(engine) == "0002_feedback"
    assert set(sa.inspect(engine).get_table_names()) >= {"questions", "feedback"}
    assert migrate(engine, behind=1) == "0001_questions"
    assert "feedback" not in sa.inspect(engine).get_table_names()
    assert migrate(engine, "head") == "0002_feedback"
    assert migrate(engine, "base") is None
    assert "questions" not in sa.inspect(engine).get_table_names()


def test_bad_targets_are_refused(engine: sa.Engine) -> None:
    """An unknown revision or too many revisions behind are configuration errors."""
    with pytest.raises(ConfigurationError, match="unknown revision 'zzz'"):
        migrate(engine, "zzz")
    with pytest.raises(ConfigurationError, match=r"behind must be in 0\.\.2"):
        migrate(engine, behind=3)


def test_history_stores_scores_not_text(engine: sa.Engine) -> None:
    """Questions and ratings are stored; missing tables fail loudly when behind head."""
    migrate(engine)
    history = History(engine)
    first = history.add_question("rag", "identity", 1, 0.9, 120.0)
    second = history.add_question("llm", "taxes", None, 0.4, 300.0)
    history.add_feedback(first, "up")
    assert history.has_question(second)
    assert not history.has_question(99)
    rows = history.recent()
    assert [(r["id"], r["strategy"], r["faq_id"]) for r in rows] == [
        (second, "llm", None),
        (first, "rag", 1),
    ]
    migrate(engine, behind=1)
    with pytest.raises(sa.exc.OperationalError, match="no such table: feedback"):
        history.add_feedback(first, "down")
