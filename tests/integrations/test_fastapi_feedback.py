"""The ready FastAPI /feedback endpoint: validation, recording, consent."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from vigie.integrations.fastapi_feedback import feedback_router
from vigie.sdk.feedback import FeedbackRecord


@pytest.fixture
def kept() -> list[FeedbackRecord]:
    return []


@pytest.fixture
def http(registry: CollectorRegistry, kept: list[FeedbackRecord]) -> TestClient:
    app = FastAPI()
    app.include_router(
        feedback_router(targets={"answer", "search"}, sink=kept.append, registry=registry)
    )
    return TestClient(app)


def test_valid_feedback_is_recorded(http: TestClient, registry: CollectorRegistry) -> None:
    """A thumbs-up and a score are accepted with 202 and counted."""
    assert http.post("/feedback", json={"target": "answer", "rating": "up"}).status_code == 202
    response = http.post("/feedback", json={"target": "search", "rating": 3})
    assert response.json() == {"status": "recorded"}
    get = registry.get_sample_value
    assert get("user_feedback_total", {"target": "answer", "rating": "up"}) == 1
    assert get("user_feedback_total", {"target": "search", "rating": "3"}) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": "answer", "rating": 7}, "rating"),
        ({"target": "answer", "rating": "meh"}, "rating"),
        ({"target": "answer"}, "rating"),
        ({"target": "billing", "rating": "up"}, "target"),
        ({"target": "a b", "rating": "up"}, "target"),
        ({"target": "answer", "rating": "up", "comment": "x" * 2001}, "comment"),
        ({"target": "answer", "rating": "up", "email": "a@b.c"}, "email"),
    ],
)
def test_invalid_feedback_is_422_naming_the_field(
    http: TestClient, registry: CollectorRegistry, body: dict[str, object], field: str
) -> None:
    """Bad bodies get 422 with the offending field, and nothing is recorded."""
    response = http.post("/feedback", json=body)
    assert response.status_code == 422
    assert any(field in error["loc"] for error in response.json()["detail"])
    assert (
        registry.get_sample_value("user_feedback_total", {"target": "answer", "rating": "up"})
        is None
    )


def test_consent_controls_what_is_kept(http: TestClient, kept: list[FeedbackRecord]) -> None:
    """The comment reaches the sink only when the body gives consent."""
    http.post(
        "/feedback", json={"target": "answer", "rating": 1, "comment": "wrong", "user_id": "u7"}
    )
    assert kept == []
    body = {"target": "answer", "rating": 1, "comment": "wrong", "user_id": "u7", "consent": True}
    http.post("/feedback", json=body)
    assert [(r.comment, r.user_id) for r in kept] == [("wrong", "u7")]
