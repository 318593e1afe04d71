"""The SDK's /metrics and /health: restricted by token or allow-list; no secrets in /health."""

from __future__ import annotations

import json
from collections.abc import Iterator
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client import CollectorRegistry, Counter
from starlette.applications import Starlette
from starlette.testclient import TestClient

from vigie.exceptions import InstrumentationError
from vigie.integrations.asgi import MiddlewareConfig, VigieMiddleware
from vigie.integrations.wsgi import instrument_wsgi
from vigie.sdk.health import default_health

TOKEN = "scrape-token-0123456789"


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("orders", "Orders.", registry=registry).inc()
    return registry


def _asgi(registry: CollectorRegistry, client: str = "10.1.2.3", **options: object) -> TestClient:
    app = VigieMiddleware(Starlette(), registry=registry, **options)
    return TestClient(app, client=(client, 4321))


def test_asgi_token_restricts_metrics_and_health(registry: CollectorRegistry) -> None:
    """endpoint_token: 401 without the bearer token, the usual answer with it."""
    client = _asgi(registry, endpoint_token=TOKEN)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/health/live").status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200
    assert "orders_total 1.0" in allowed.text


def test_asgi_allow_list(registry: CollectorRegistry) -> None:
    """endpoint_allow: clients outside the networks get 403."""
    inside = _asgi(registry, client="10.1.2.3", endpoint_allow=["10.0.0.0/8", "127.0.0.1"])
    outside = _asgi(registry, client="203.0.113.9", endpoint_allow=["10.0.0.0/8"])
    assert inside.get("/metrics").status_code == 200
    assert outside.get("/metrics").status_code == 403
    assert outside.get("/health/live").status_code == 403


def test_unrestricted_by_default(registry: CollectorRegistry) -> None:
    """Without options nothing changes (existing apps keep working)."""
    assert _asgi(registry).get("/metrics").status_code == 200


def test_bad_restriction_options_raise() -> None:
    """Short tokens, a string instead of a list, bad networks: InstrumentationError at once."""
    with pytest.raises(InstrumentationError, match="at least 16"):
        MiddlewareConfig(endpoint_token="short")
    with pytest.raises(InstrumentationError, match="not a string"):
        MiddlewareConfig(endpoint_allow="10.0.0.0/8")
    with pytest.raises(InstrumentationError, match="endpoint_allow"):
        MiddlewareConfig(endpoint_allow=["10.0.0.300/8"])


def _wsgi_call(app: object, path: str, **environ: str) -> tuple[str, bytes]:
    env: dict[str, object] = {"PATH_INFO": path, **environ}
    setup_testing_defaults(env)
    status: list[str] = []

    def start_response(line: str, headers: object, exc_info: object = None) -> None:
        status.append(line)

    body = b"".join(app(env, start_response))  # type: ignore[operator]
    return status[0], body


def test_wsgi_token_and_allow_list(registry: CollectorRegistry) -> None:
    """The WSGI middleware applies the same restrictions."""

    def inner(environ: object, start_response: object) -> Iterator[bytes]:
        start_response("200 OK", [])  # type: ignore[operator]
        return iter([b"app"])

    app = instrument_wsgi(inner, registry=registry, endpoint_token=TOKEN,
                          endpoint_allow=["192.168.0.0/16"])  # fmt: skip
    inside = {"REMOTE_ADDR": "192.168.1.5"}
    assert _wsgi_call(app, "/metrics", **inside)[0] == "401 Unauthorized"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    status, body = _wsgi_call(app, "/metrics", **inside, **auth)
    assert status.startswith("200")
    assert b"orders_total 1.0" in body
    assert _wsgi_call(app, "/metrics", REMOTE_ADDR="8.8.8.8", **auth)[0] == "403 Forbidden"
    assert _wsgi_call(app, "/other", REMOTE_ADDR="8.8.8.8")[1] == b"app"  # the app is not affected


def test_health_details_never_show_secrets(registry: CollectorRegistry) -> None:
    """A failing check whose error holds a DSN password, an API key and a token is redacted."""
    health = default_health()

    def leaky() -> None:
        raise ConnectionError(
            "cannot reach postgresql://app:s3cretPassw0rd@db:5432/faq "
            "(api_key=sk-live-ABCDEF1234567890, Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y)"
        )

    health.add_check("leaky_security_test", leaky, required=False)
    try:
        response = _asgi(registry).get("/health")
    finally:
        health.remove_check("leaky_security_test")
    text = response.text
    for secret in ("s3cretPassw0rd", "sk-live-ABCDEF1234567890", "eyJhbGciOiJIUzI1NiJ9"):
        assert secret not in text, secret
    message = json.loads(text)["checks"]["leaky_security_test"]["message"]
    assert "db:5432" in message  # still useful: where it failed
