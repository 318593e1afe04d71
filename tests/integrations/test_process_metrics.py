"""Each instrumented app exposes its process and GC metrics, and its 401/403 responses."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, HTTPException
from prometheus_client import CollectorRegistry

import vigie


def _app(**options: object) -> FastAPI:
    app = FastAPI()

    @app.get("/private")
    async def private(token: str = "") -> dict[str, str]:
        if not token:
            raise HTTPException(status_code=401, detail="missing token")
        if token != "good":
            raise HTTPException(status_code=403, detail="not allowed")
        return {"ok": "yes"}

    return vigie.instrument_fastapi(app, **options)


async def test_default_metrics_include_process_and_gc() -> None:
    """With the default registry, /metrics has process_resident_memory_bytes and GC counters."""
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        reply = await client.get("/metrics")
    assert reply.status_code == 200
    names = {
        line.split("{")[0].split(" ")[0] for line in reply.text.splitlines() if line[:1] != "#"
    }
    assert "process_resident_memory_bytes" in names
    assert "process_cpu_seconds_total" in names
    assert "python_gc_objects_collected_total" in names


async def test_own_registry_also_gets_process_and_gc(registry: CollectorRegistry) -> None:
    """An app serving its own registry exposes the process and GC metrics too, once."""
    transport = httpx.ASGITransport(app=_app(registry=registry))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        await client.get("/metrics")
        reply = await client.get("/metrics")
    lines = [line for line in reply.text.splitlines() if line.startswith("# TYPE ")]
    assert "# TYPE process_resident_memory_bytes gauge" in lines
    assert sum(line.startswith("# TYPE python_gc_objects_collected") for line in lines) == 1


async def test_unauthorized_and_forbidden_are_counted_per_route(
    registry: CollectorRegistry,
) -> None:
    """Two 401 and one 403 on /private show in the duration histogram's count by status."""
    transport = httpx.ASGITransport(app=_app(registry=registry))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        statuses = [
            (await client.get("/private")).status_code,
            (await client.get("/private")).status_code,
            (await client.get("/private", params={"token": "bad"})).status_code,
            (await client.get("/private", params={"token": "good"})).status_code,
        ]
    assert statuses == [401, 401, 403, 200]

    def count(status: str) -> float | None:
        return registry.get_sample_value(
            "http_server_request_duration_seconds_count",
            {
                "http_request_method": "GET",
                "url_scheme": "http",
                "http_route": "/private",
                "http_response_status_code": status,
            },
        )

    assert (count("401"), count("403"), count("200")) == (2, 1, 1)
