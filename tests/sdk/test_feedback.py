"""User feedback: aggregated counts by default, details only with consent."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from vigie.exceptions import InstrumentationError
from vigie.sdk.feedback import FeedbackRecord, consented_feedback, forget_user, record_feedback


def count(registry: CollectorRegistry, rating: str, target: str = "answer") -> float | None:
    return registry.get_sample_value("user_feedback_total", {"target": target, "rating": rating})


def test_thumbs_and_scores(registry: CollectorRegistry) -> None:
    """Thumbs count as up/down; 1-5 scores are counted and observed."""
    for rating in ("up", "UP", True, "down", False):
        record_feedback("answer", rating, registry=registry)
    record_feedback("answer", 5, registry=registry)
    record_feedback("answer", "2", registry=registry)
    assert count(registry, "up") == 3
    assert count(registry, "down") == 2
    assert count(registry, "5") == 1
    assert registry.get_sample_value("user_feedback_score_sum", {"target": "answer"}) == 7
    assert registry.get_sample_value("user_feedback_score_count", {"target": "answer"}) == 2


@pytest.mark.parametrize("rating", [0, 6, "meh", 4.5, None])
def test_invalid_rating_raises(registry: CollectorRegistry, rating: object) -> None:
    """A rating outside thumbs or 1-5 is refused with the value in the message."""
    with pytest.raises(ValueError, match="rating must be"):
        record_feedback("answer", rating, registry=registry)  # type: ignore[arg-type]


@pytest.mark.parametrize("target", ["", "user 42 said", "a" * 65, "conv/123?x"])
def test_target_must_be_a_feature_name(registry: CollectorRegistry, target: str) -> None:
    """Targets are bounded feature names, so nothing identifying reaches labels."""
    with pytest.raises(InstrumentationError, match="feedback target"):
        record_feedback(target, "up", registry=registry)


def test_without_consent_details_are_dropped(registry: CollectorRegistry) -> None:
    """Comment and user id are not kept without consent, and never appear in metrics."""
    kept: list[FeedbackRecord] = []
    record_feedback(
        "answer", "down", comment="wrong about my invoice", user_id="u-981",
        sink=kept.append, registry=registry,
    )  # fmt: skip
    assert kept == []
    exposed = generate_latest(registry).decode()
    assert "invoice" not in exposed
    assert "u-981" not in exposed
    assert registry.get_sample_value("user_feedback_comments_total", {"target": "answer"}) == 1


def test_with_consent_the_record_goes_to_the_sink(registry: CollectorRegistry) -> None:
    """With consent the full record is handed to the sink (default: the recent buffer)."""
    kept: list[FeedbackRecord] = []
    record_feedback(
        "answer", 4, comment="good", user_id="u-1", consent=True, sink=kept.append,
        registry=registry,
    )  # fmt: skip
    assert [(r.target, r.rating, r.comment, r.user_id) for r in kept] == [
        ("answer", "4", "good", "u-1")
    ]
    record_feedback("search", "up", comment="found it", consent=True, registry=registry)
    assert consented_feedback()[-1].comment == "found it"
    assert "u-1" not in generate_latest(registry).decode()


def test_forget_user_erases_only_that_users_records(registry: CollectorRegistry) -> None:
    """forget_user deletes one user's consented records from the buffer and keeps the others'."""
    for user, comment in (("u-erase", "first"), ("u-keep", "other"), ("u-erase", "second")):
        record_feedback(
            "answer", "up", comment=comment, user_id=user, consent=True, registry=registry
        )
    assert forget_user("u-erase") == 2
    remaining = consented_feedback()
    assert not [r for r in remaining if r.user_id == "u-erase"]
    assert [r.comment for r in remaining if r.user_id == "u-keep"][-1] == "other"
    assert forget_user("u-erase") == 0
    # The aggregated counts are not personal data and stay.
    assert (
        registry.get_sample_value("user_feedback_total", {"target": "answer", "rating": "up"}) == 3
    )
