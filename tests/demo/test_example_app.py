"""The example FAQ app: its routes, its health checks and the metrics its requests leave."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from vigie.demo.example_app import CORPUS, create_app
from vigie.sdk.health import HealthRegistry


def _fetch(app: object, *requests: tuple[str, str, dict[str, object]]) -> list[httpx.Response]:
    async def send() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            return [await client.request(m, url, **options) for m, url, options in requests]  # type: ignore[arg-type]

    return asyncio.run(send())


@pytest.fixture
def health() -> HealthRegistry:
    """A private health registry, so no test touches the process-wide one."""
    return HealthRegistry(registry=CollectorRegistry())


def test_faq_routes_answer(registry: CollectorRegistry, health: HealthRegistry) -> None:
    """Answers by id, listings and categories return the corpus; unknown ids are 404."""
    app = create_app(health=health, registry=registry, seed=1)
    one, missing, listing, category, unknown = _fetch(
        app,
        ("GET", "/faq/3", {}),
        ("GET", "/faq/404", {}),
        ("GET", "/faq", {"params": {"category": "taxes"}}),
        ("GET", "/categories/housing/faq", {}),
        ("GET", "/categories/transport/faq", {}),
    )
    assert one.status_code == 200
    assert one.json()["question"] == CORPUS[2].question
    assert missing.status_code == 404
    assert [item["faq_id"] for item in listing.json()] == [4, 5, 6]
    assert [item["faq_id"] for item in category.json()] == [7, 8, 9]
    assert unknown.status_code == 404


def test_ask_finds_the_best_answer(registry: CollectorRegistry, health: HealthRegistry) -> None:
    """/ask returns the matching entry with a confidence, and no answer when nothing matches."""
    app = create_app(health=health, registry=registry, error_rate=0.0, seed=1)
    found, nothing, too_short = _fetch(
        app,
        ("GET", "/ask", {"params": {"q": "how do I renew my passport"}}),
        ("GET", "/ask", {"params": {"q": "zebra xylophone"}}),
        ("GET", "/ask", {"params": {"q": "a"}}),
    )
    assert found.status_code == 200
    assert found.json()["faq_id"] == 1
    assert found.json()["confidence"] == 1.0
    assert nothing.json() == {"answer": None, "faq_id": None, "confidence": 0.0}
    assert too_short.status_code == 422


def test_ask_fails_at_the_error_rate(registry: CollectorRegistry, health: HealthRegistry) -> None:
    """With error_rate=1 every /ask fails with a 5xx."""
    app = create_app(health=health, registry=registry, error_rate=1.0, seed=2)
    responses = _fetch(app, *[("GET", "/ask", {"params": {"q": "passport"}})] * 5)
    assert {response.status_code for response in responses} <= {500, 503}


def test_streaming_slow_and_feedback_routes(
    registry: CollectorRegistry, health: HealthRegistry
) -> None:
    """The streamed answer arrives whole; reports and feedback answer; bad feedback is 422."""
    app = create_app(health=health, registry=registry, slow_seconds=(0.0, 0.01), seed=3)
    stream, report, feedback, bad, unknown = _fetch(
        app,
        ("GET", "/ask/stream", {"params": {"q": "library card"}}),
        ("GET", "/reports/weekly", {}),
        ("POST", "/feedback/11", {"json": {"helpful": True}}),
        ("POST", "/feedback/11", {"json": {"helpful": "maybe"}}),
        ("POST", "/feedback/99", {"json": {"helpful": False}}),
    )
    assert stream.status_code == 200
    assert stream.text.strip() == CORPUS[10].answer
    assert report.json()["questions"] == 12
    assert feedback.status_code == 201
    assert bad.status_code == 422
    assert unknown.status_code == 404


def test_requests_are_recorded_with_route_templates(
    registry: CollectorRegistry, health: HealthRegistry
) -> None:
    """HTTP metrics carry route templates, never raw paths or ids."""
    app = create_app(health=health, registry=registry, seed=4)
    _fetch(app, ("GET", "/faq/1", {}), ("GET", "/faq/2", {}), ("GET", "/admin/12345", {}))
    text = generate_latest(registry).decode()
    routes = set(re.findall(r'http_route="([^"]*)"', text))
    assert "/faq/{faq_id}" in routes
    assert not any(route.startswith("/faq/") and route != "/faq/{faq_id}" for route in routes)
    assert "/admin/12345" not in routes


def test_health_checks_pass(registry: CollectorRegistry, health: HealthRegistry) -> None:
    """The demo registers its index (required), disk and answer engine checks, all passing."""
    create_app(health=health, registry=registry)
    report = health.run()
    assert health.names == ["faq_index", "disk", "answer_engine"]
    assert report.status == "ok"
    assert [result.required for result in report.checks] == [True, False, False]
    assert report.checks[0].message == "index has 12 items"


def test_create_app_twice_reuses_the_health_registry(health: HealthRegistry) -> None:
    """Building the app again in one process replaces its checks instead of failing."""
    create_app(health=health, registry=CollectorRegistry())
    create_app(health=health, registry=CollectorRegistry())
    assert health.names == ["faq_index", "disk", "answer_engine"]
