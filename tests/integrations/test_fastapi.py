"""vigie.instrument_fastapi on real FastAPI apps, driven through httpx's ASGI transport."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from prometheus_client import CollectorRegistry

import vigie
from support.http_series import count, labels
from vigie.exceptions import InstrumentationError
from vigie.sdk import configuration
from vigie.sdk.request_context import current_request_id

DURATION = "http_server_request_duration_seconds"


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, Any]:
        if item_id == 404:
            raise HTTPException(status_code=404, detail="no such item")
        return {"item_id": item_id, "request_id": current_request_id()}

    @app.post("/items")
    async def create_item(payload: dict[str, Any]) -> dict[str, Any]:
        return payload

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    api = APIRouter()

    @api.get("/users/{user_id}")
    async def read_user(user_id: str) -> dict[str, str]:
        return {"user_id": user_id}

    nested = APIRouter()

    @nested.get("/orders/{order_id}")
    async def read_order(order_id: str) -> dict[str, str]:
        return {"order_id": order_id}

    api.include_router(nested, prefix="/tenants/{tenant}")
    app.include_router(api, prefix="/api")

    sub = FastAPI()

    @sub.get("/reports/{report_id}")
    async def read_report(report_id: str) -> dict[str, str]:
        return {"report_id": report_id}

    app.mount("/v2", sub)
    return app


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_route_template_counts_and_sizes(registry: CollectorRegistry) -> None:
    """Three requests to one templated route give one series with exact count and body sizes."""
    app = vigie.instrument_fastapi(build_app(), registry=registry)
    async with client(app) as http:
        bodies = [(await http.get(f"/items/{i}")).content for i in (1, 22, 333)]
    assert count(registry, "/items/{item_id}", 200) == 3
    assert registry.get_sample_value(f"{DURATION}_count", labels("/items/{item_id}", 200)) == 3
    assert registry.get_sample_value(
        "http_server_response_body_size_bytes_sum", labels("/items/{item_id}", 200)
    ) == sum(len(body) for body in bodies)
    # GETs carry no body: the request-size histogram counts requests with a body only.
    assert (
        registry.get_sample_value(
            "http_server_request_body_size_bytes_count", labels("/items/{item_id}", 200)
        )
        == 0
    )
    assert (
        registry.get_sample_value(
            "http_server_active_requests", {"http_request_method": "GET", "url_scheme": "http"}
        )
        == 0
    )


async def test_prefixed_routers_and_mounts_give_full_templates(registry: CollectorRegistry) -> None:
    """Included-router prefixes and mounts are part of the template, never the raw values."""
    app = vigie.instrument_fastapi(build_app(), registry=registry)
    async with client(app) as http:
        assert (await http.get("/api/users/alice")).status_code == 200
        assert (await http.get("/api/tenants/acme/orders/7")).status_code == 200
        assert (await http.get("/v2/reports/r1")).status_code == 200
    for route in ("/api/users/{user_id}", "/api/tenants/{tenant}/orders/{order_id}"):
        assert count(registry, route, 200) == 1
    assert count(registry, "/v2/reports/{report_id}", 200) == 1
    exposed = {
        sample.labels.get("http_route")
        for metric in registry.collect()
        for sample in metric.samples
    }
    assert not exposed & {"/api/users/alice", "/v2/reports/r1", "/api/tenants/acme/orders/7"}


async def test_handler_404_and_validation_422_keep_the_template(
    registry: CollectorRegistry,
) -> None:
    """A 404 raised by a matched handler and a 422 keep the route; an unknown path is unmatched."""
    app = vigie.instrument_fastapi(build_app(), registry=registry)
    async with client(app) as http:
        assert (await http.get("/items/404")).status_code == 404
        assert (await http.get("/items/not-a-number")).status_code == 422
        assert (await http.get("/nowhere/at/all")).status_code == 404
    assert count(registry, "/items/{item_id}", 404) == 1
    assert count(registry, "/items/{item_id}", 422) == 1
    assert count(registry, "", 404) == 1


async def test_post_body_size_from_content_length(registry: CollectorRegistry) -> None:
    """A JSON POST records its Content-Length as the request body size."""
    app = vigie.instrument_fastapi(build_app(), registry=registry)
    payload = b'{"name": "widget", "price": 12.5}'
    async with client(app) as http:
        response = await http.post(
            "/items", content=payload, headers={"content-type": "application/json"}
        )
    assert response.status_code == 200
    assert registry.get_sample_value(
        "http_server_request_body_size_bytes_sum", labels("/items", 200, "POST")
    ) == len(payload)


async def test_exception_counts_500_and_is_reraised_untouched(registry: CollectorRegistry) -> None:
    """An exception in an endpoint is counted as a 500 and reaches the server unchanged."""
    app = vigie.instrument_fastapi(build_app(), registry=registry)
    async with client(app) as http:
        with pytest.raises(RuntimeError, match="kaboom"):
            await http.get("/boom")
    assert count(registry, "/boom", 500) == 1
    assert (
        registry.get_sample_value(
            "http_server_active_requests", {"http_request_method": "GET", "url_scheme": "http"}
        )
        == 0
    )


async def test_request_id_generated_echoed_and_bound(registry: CollectorRegistry) -> None:
    """X-Request-ID is echoed when valid, generated otherwise, and visible to the handler."""
    app = vigie.instrument_fastapi(build_app(), registry=registry, request_id=True)
    async with client(app) as http:
        given = await http.get("/items/1", headers={"X-Request-ID": "req-abc.123"})
        generated = await http.get("/items/2")
        hostile = await http.get("/items/3", headers={"X-Request-ID": "x" * 200})
    assert given.headers["x-request-id"] == "req-abc.123"
    assert given.json()["request_id"] == "req-abc.123"
    assert len(generated.headers["x-request-id"]) == 32
    assert generated.json()["request_id"] == generated.headers["x-request-id"]
    assert hostile.headers["x-request-id"] != "x" * 200
    assert current_request_id() is None


async def test_request_ids_follow_vigie_logging_by_default(
    registry: CollectorRegistry, tmp_path: Path
) -> None:
    """By default ids are on while vigie.configure() has logging installed, and off otherwise."""
    app = vigie.instrument_fastapi(build_app(), registry=registry)
    forced_off = vigie.instrument_fastapi(build_app(), registry=registry, request_id=False)
    async with client(app) as http, client(forced_off) as off_http:
        before = await http.get("/items/1")
        try:
            vigie.configure(
                "faq-bot",
                logs={"file": str(tmp_path / "app.log"), "stream": "none"},
                traces=False,
                registry=registry,
                environ={},
            )
            during = await http.get("/items/2", headers={"X-Request-ID": "req-7"})
            forced = await off_http.get("/items/3", headers={"X-Request-ID": "req-8"})
        finally:
            configuration.shutdown()
        after = await http.get("/items/4")
    assert "x-request-id" not in before.headers
    assert before.json()["request_id"] is None
    assert during.headers["x-request-id"] == "req-7"
    assert during.json()["request_id"] == "req-7"
    assert "x-request-id" not in forced.headers
    assert forced.json()["request_id"] is None
    assert "x-request-id" not in after.headers
    with pytest.raises(InstrumentationError, match="request_id"):
        vigie.instrument_fastapi(build_app(), registry=registry, request_id="yes")


async def test_metrics_and_health_served_and_not_recorded(registry: CollectorRegistry) -> None:
    """/metrics and /health/live are answered by the middleware and add no HTTP series."""
    app = vigie.instrument_fastapi(build_app(), registry=registry)
    async with client(app) as http:
        metrics = await http.get("/metrics")
        live = await http.get("/health/live")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert live.status_code == 200
    assert live.headers["content-type"].startswith("application/json")
    assert count(registry, "", 200) is None
    routes = {s.labels.get("http_route") for m in registry.collect() for s in m.samples}
    assert routes <= {None}


def test_instrument_fastapi_rejects_bad_input() -> None:
    """Definition-time misuse fails at once with a clear InstrumentationError."""
    with pytest.raises(InstrumentationError, match="FastAPI or Starlette"):
        vigie.instrument_fastapi(object())
    with pytest.raises(InstrumentationError, match="metrics_path"):
        vigie.instrument_fastapi(FastAPI(), metrics_path="metrics")
    with pytest.raises(InstrumentationError, match="excluded path"):
        vigie.instrument_fastapi(FastAPI(), excluded_paths=["health"])


async def test_instrumenting_a_started_app_fails_clearly() -> None:
    """Instrumenting an app that already served requests raises InstrumentationError."""
    app = build_app()
    async with client(app) as http:
        await http.get("/items/1")
    with pytest.raises(InstrumentationError, match="cannot instrument this app"):
        vigie.instrument_fastapi(app, registry=CollectorRegistry())
