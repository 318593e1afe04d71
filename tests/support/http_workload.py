"""A Starlette app and a workload of every kind of request, for the HTTP middleware tests."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def hello(request: Request) -> Response:
    return PlainTextResponse(f"hello {request.path_params['name']}")


async def file(request: Request) -> Response:
    return PlainTextResponse(f"file {request.path_params['file_id']}")


async def echo(request: Request) -> Response:
    return PlainTextResponse(await request.body())


async def fail(request: Request) -> Response:
    raise ValueError("broken handler")


def starlette_app() -> Starlette:
    inner = [Route("/files/{file_id}", file)]
    return Starlette(
        routes=[
            Route("/hello/{name}", hello),
            Route("/echo", echo, methods=["POST"]),
            Route("/fail", fail),
            Mount("/static/{bucket}", routes=inner),
        ]
    )


async def workload(app: Any) -> None:
    """Requests of every kind the common path takes or hands to the full path."""

    async def parts() -> Any:
        yield b"abc"
        yield b"de"

    async with client(app) as http:
        await http.get("/hello/ada")
        await http.get("/hello/bob")
        await http.get("/hello/eve", headers={"content-length": "0"})  # a GET: not measured
        await http.head("/hello/ada")
        await http.options("/hello/ada")
        await http.post("/echo", content=b"x" * 150)
        await http.post("/echo", content=parts())  # chunked: counted as read
        await http.put("/echo", content=b"y" * 10)  # 405
        await http.request("DELETE", "/hello/ada", content=b"z" * 5)  # 405, a body measured
        await http.request("BREW", "/hello/ada")  # an unknown method: _OTHER
        await http.get("/static/b1/files/f9")
        await http.get("/static/b1/nothing")
        await http.get("/wp-login.php")
        await http.get("/metricsx")  # starts like /metrics, still recorded
        await http.get("/health/deep")  # under the excluded /health*
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://test"
    ) as https:
        await https.get("/hello/tls")
    with pytest.raises(ValueError):
        async with client(app) as http:
            await http.get("/fail")


def http_samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[Any, ...]], float]:
    """Every HTTP sample but measured durations and creation times (which differ between runs)."""
    found = {}
    for family in registry.collect():
        for sample in family.samples:
            timed = sample.name.startswith("http_server_request_duration_seconds") and not (
                sample.name.endswith("_count") or sample.labels.get("le") == "+Inf"
            )
            created = sample.name.endswith("_created")
            if sample.name.startswith("http_server_") and not timed and not created:
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def counting_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Count the calls of an async method of ``owner`` (one list element, incremented)."""
    calls = [0]
    original = getattr(owner, name)

    async def counted(self: Any, *args: Any) -> None:
        calls[0] += 1
        await original(self, *args)

    monkeypatch.setattr(owner, name, counted)
    return calls
