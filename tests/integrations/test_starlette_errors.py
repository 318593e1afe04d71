"""instrument_fastapi standing in for Starlette's ServerErrorMiddleware, on real apps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

import vigie
from support.http_series import count, labels
from support.http_workload import counting_calls, http_samples, starlette_app, workload
from vigie.integrations.asgi import VigieMiddleware
from vigie.integrations.starlette_errors import ServerErrors

RESPONSE_SIZE = "http_server_response_body_size_bytes"


def client(app: Any, *, raise_errors: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_errors)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_every_request_is_recorded_as_by_the_outer_asgi_middleware(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Standing in for the error layer changes no sample, on the common path or the full one.

    instrument_asgi wraps the whole app, error layer included; instrument_fastapi takes the
    layer's place. The same workload (errors included) must give the same samples, with the
    stand-in answering the error on both paths.
    """
    answered = counting_calls(monkeypatch, ServerErrors, "__call__")
    outside, common, full = CollectorRegistry(), CollectorRegistry(), CollectorRegistry()
    await workload(vigie.instrument_asgi(starlette_app(), registry=outside))
    assert answered == [0]
    await workload(vigie.instrument_fastapi(starlette_app(), registry=common))
    assert answered == [1]  # /fail, on the common path
    await workload(vigie.instrument_fastapi(starlette_app(), registry=full, exemplars=True))
    assert answered == [2]  # /fail, on the full path
    assert http_samples(common) == http_samples(outside)
    assert http_samples(full) == http_samples(outside)
    assert count(common, "/fail", 500) == 1
    internal_error = len(b"Internal Server Error")
    assert common.get_sample_value(f"{RESPONSE_SIZE}_sum", labels("/fail", 500)) == internal_error


class KaboomError(RuntimeError):
    pass


async def async_handler(request: Request, error: Exception) -> Response:
    return JSONResponse({"error": type(error).__name__}, status_code=503)


def sync_handler(request: Request, error: Exception) -> Response:
    return PlainTextResponse(f"sorry: {error}", status_code=500)


class HandlerObject:
    """A callable object whose __call__ is a coroutine function: awaited, not run in a thread."""

    async def __call__(self, request: Request, error: Exception) -> Response:
        return PlainTextResponse("handled by an object", status_code=502)


def failing_app(handler: Any, debug: bool) -> FastAPI:
    app = FastAPI(debug=debug)

    @app.get("/boom/{kind}")
    async def boom(kind: str) -> None:
        raise KaboomError(f"kaboom {kind}")

    if handler is not None:
        app.add_exception_handler(Exception, handler)
    return app


@pytest.mark.parametrize("request_id", [False, True], ids=["common-path", "full-path"])
@pytest.mark.parametrize(
    ("handler", "debug"),
    [
        (None, False),
        (async_handler, False),
        (sync_handler, False),
        (HandlerObject(), False),
        (None, True),
    ],
    ids=["starlette-500", "async-handler", "sync-handler", "handler-object", "debug-page"],
)
async def test_error_responses_are_those_of_the_app_without_vigie(
    handler: Any, debug: bool, request_id: bool, registry: CollectorRegistry
) -> None:
    """The client gets the response the app gives without vigie; vigie counts a 500, measured.

    With request ids on, requests take the full path, and the error page carries the id.
    """
    bare = failing_app(handler, debug)
    instrumented = vigie.instrument_fastapi(
        failing_app(handler, debug), registry=registry, request_id=request_id
    )
    answers = []
    for app in (bare, instrumented):
        async with client(app, raise_errors=False) as http:
            answers.append(await http.get("/boom/x", headers={"accept": "text/plain"}))
    expected, got = answers
    assert got.status_code == expected.status_code
    assert got.headers["content-type"] == expected.headers["content-type"]
    assert ("x-request-id" in got.headers) is request_id
    if debug:  # the traceback differs by vigie's own frame; the page is the same kind
        assert "KaboomError: kaboom x" in got.text
        assert "KaboomError: kaboom x" in expected.text
    else:
        assert got.content == expected.content
    assert count(registry, "/boom/{kind}", 500) == 1
    assert registry.get_sample_value(f"{RESPONSE_SIZE}_sum", labels("/boom/{kind}", 500)) == len(
        got.content
    )
    async with client(instrumented) as http:  # and the exception still reaches the server
        with pytest.raises(KaboomError, match="kaboom y"):
            await http.get("/boom/y")
    assert count(registry, "/boom/{kind}", 500) == 2


async def test_an_error_after_the_response_started_is_not_answered_again(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream that fails midway sends no second response; the request counts as a 500."""
    answered = counting_calls(monkeypatch, ServerErrors, "__call__")
    app = FastAPI()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first"
            raise KaboomError("midway")

        return StreamingResponse(chunks())

    vigie.instrument_fastapi(app, registry=registry)
    starts = []

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            starts.append(message["status"])

    requested = False

    async def receive() -> Any:
        nonlocal requested
        if requested:  # then the client waits, as a connected one does
            await asyncio.Event().wait()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/stream", "raw_path": b"/stream", "root_path": "",
             "query_string": b"", "headers": [], "server": ("test", 80)}  # fmt: skip
    with pytest.raises(KaboomError, match="midway"):
        await app(scope, receive, send)
    assert starts == [200]
    assert answered == [0]
    assert count(registry, "/stream", 500) == 1


async def test_vigie_is_outermost_and_times_middleware_added_later(
    registry: CollectorRegistry,
) -> None:
    """Middleware added after instrument_fastapi runs inside vigie, so its time is measured."""
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    vigie.instrument_fastapi(app, registry=registry)

    class Slow:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await asyncio.sleep(0.05)
            await self.app(scope, receive, send)

    app.add_middleware(Slow)
    async with client(app) as http:
        assert (await http.get("/ping")).json() == {"ok": True}
    duration = registry.get_sample_value(
        "http_server_request_duration_seconds_sum", labels("/ping", 200)
    )
    assert duration is not None
    assert duration >= 0.05
    assert isinstance(app.middleware_stack, VigieMiddleware)


def test_the_metric_families_exist_before_the_first_request(registry: CollectorRegistry) -> None:
    """The stack is built at the first request, the middleware and its families at once."""
    vigie.instrument_fastapi(FastAPI(), registry=registry)
    in_flight = {"http_request_method": "GET", "url_scheme": "http"}
    assert registry.get_sample_value("http_server_active_requests", in_flight) == 0


async def test_another_outer_layer_is_wrapped_not_stood_in_for(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app whose outermost layer is not Starlette's own is wrapped whole, errors included."""
    answered = counting_calls(monkeypatch, ServerErrors, "__call__")
    seen = []

    class Outer:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope["type"])
            await self.app(scope, receive, send)

    class Custom(FastAPI):
        def build_middleware_stack(self) -> ASGIApp:
            return Outer(super().build_middleware_stack())

    app = Custom()

    @app.get("/boom")
    async def boom() -> None:
        raise KaboomError("outer")

    vigie.instrument_fastapi(app, registry=registry)
    async with client(app, raise_errors=False) as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert seen == ["http"]
    assert answered == [0]
    assert count(registry, "/boom", 500) == 1


def test_only_starlettes_own_layer_is_stood_in_for() -> None:
    """A subclass of ServerErrorMiddleware may answer its own way: it is left in place."""

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    class Custom(ServerErrorMiddleware):
        pass

    assert ServerErrors.of(ServerErrorMiddleware(inner)) is not None
    assert ServerErrors.of(ServerErrorMiddleware(inner)).inner is inner  # type: ignore[union-attr]
    assert ServerErrors.of(Custom(inner)) is None
    assert ServerErrors.of(inner) is None
