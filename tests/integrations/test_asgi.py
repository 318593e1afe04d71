"""VigieMiddleware on Starlette apps and raw ASGI callables, driven with real ASGI messages."""

from __future__ import annotations

import asyncio
import logging
import random
import string
import threading
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

import vigie
from support.http_series import count, labels
from support.http_workload import counting_calls, hello, http_samples, starlette_app, workload
from vigie.exceptions import InstrumentationError
from vigie.integrations import asgi
from vigie.integrations.asgi import VigieMiddleware
from vigie.sdk import http_folding
from vigie.sdk.failsafe import swallowing_internal_errors
from vigie.sdk.http_metrics import HttpServerMetrics

ACTIVE = "http_server_active_requests"


def scope(path: str, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers if headers is not None else [(b"host", b"test")],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1234),
    }


async def no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_starlette_templates_and_unmatched(registry: CollectorRegistry) -> None:
    """Starlette routes and mounts give templates; unknown paths share the unmatched value."""
    app = vigie.instrument_asgi(starlette_app(), registry=registry)
    async with client(app) as http:
        assert (await http.get("/hello/ada")).text == "hello ada"
        assert (await http.get("/static/b1/files/f9")).status_code == 200
        assert (await http.get("/static/b1/nothing")).status_code == 404
        assert (await http.get("/wp-admin.php")).status_code == 404
    assert count(registry, "/hello/{name}", 200) == 1
    assert count(registry, "/static/{bucket}/files/{file_id}", 200) == 1
    assert count(registry, "", 404) == 2


async def test_unmatched_route_value_is_configurable(registry: CollectorRegistry) -> None:
    """unmatched_route names the one label value of unrouted requests."""
    app = vigie.instrument_asgi(starlette_app(), registry=registry, unmatched_route="unmatched")
    async with client(app) as http:
        await http.get("/nope")
    assert count(registry, "unmatched", 404) == 1


async def test_exception_counts_500_and_the_same_object_is_reraised(
    registry: CollectorRegistry,
) -> None:
    """The app's exception propagates as the very same object, and the request counts as 500."""
    seen: list[BaseException] = []

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        error = KeyError("missing")
        seen.append(error)
        raise error

    app = vigie.instrument_asgi(raw, registry=registry)

    async def ignore(message: Any) -> None:
        return None

    with pytest.raises(KeyError) as raised:
        await app(scope("/anything"), no_body, ignore)
    assert raised.value is seen[0]
    assert count(registry, "", 500) == 1
    assert (
        registry.get_sample_value(ACTIVE, {"http_request_method": "GET", "url_scheme": "http"}) == 0
    )


async def test_starlette_error_middleware_500_counted_once(registry: CollectorRegistry) -> None:
    """Starlette sends its 500 page and re-raises: one 500 is counted, not two."""
    app = vigie.instrument_asgi(starlette_app(), registry=registry)
    async with client(app) as http:
        with pytest.raises(ValueError, match="broken handler"):
            await http.get("/fail")
    assert count(registry, "/fail", 500) == 1


async def test_streaming_is_timed_to_the_last_byte(registry: CollectorRegistry) -> None:
    """A streamed response is timed until its last chunk, and all its bytes are counted."""

    async def chunks() -> Any:
        for index in range(3):
            await asyncio.sleep(0.05)
            yield f"chunk{index};".encode()

    async def stream(request: Request) -> Response:
        return StreamingResponse(chunks())

    app = vigie.instrument_asgi(Starlette(routes=[Route("/stream", stream)]), registry=registry)
    async with client(app) as http:
        response = await http.get("/stream")
    assert response.content == b"chunk0;chunk1;chunk2;"
    duration_sum = registry.get_sample_value(
        "http_server_request_duration_seconds_sum", labels("/stream", 200)
    )
    assert duration_sum is not None
    assert 0.15 <= duration_sum < 2
    size = registry.get_sample_value(
        "http_server_response_body_size_bytes_sum", labels("/stream", 200)
    )
    assert size == len(b"chunk0;chunk1;chunk2;")


async def test_background_task_not_in_the_duration(registry: CollectorRegistry) -> None:
    """Work after the last byte (a background task) does not count in the request duration."""

    async def slow_after() -> None:
        await asyncio.sleep(0.3)

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("ok", background=BackgroundTask(slow_after))

    app = vigie.instrument_asgi(Starlette(routes=[Route("/bg", endpoint)]), registry=registry)
    async with client(app) as http:
        await http.get("/bg")
    duration_sum = registry.get_sample_value(
        "http_server_request_duration_seconds_sum", labels("/bg", 200)
    )
    assert duration_sum is not None
    assert duration_sum < 0.25


async def test_websocket_and_lifespan_pass_through_untouched(registry: CollectorRegistry) -> None:
    """Non-HTTP scopes reach the app with the very same scope, receive and send, unrecorded."""
    calls: list[tuple[Any, Any, Any]] = []

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        calls.append((scope, receive, send))

    app = vigie.instrument_asgi(raw, registry=registry)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        return None

    for kind in ("websocket", "lifespan"):
        given = {"type": kind, "path": "/ws", "asgi": {"version": "3.0"}}
        await app(given, receive, send)
        assert calls[-1] == (given, receive, send)
        assert calls[-1][0] is given
        assert calls[-1][1] is receive
        assert calls[-1][2] is send
    assert registry.get_sample_value("http_server_requests_total", labels("", 200)) is None


async def test_in_flight_gauge_counts_running_requests(registry: CollectorRegistry) -> None:
    """http_server_active_requests is 1 while a request runs and 0 after it."""
    during: list[Any] = []

    async def endpoint(request: Request) -> Response:
        during.append(
            registry.get_sample_value(ACTIVE, {"http_request_method": "GET", "url_scheme": "http"})
        )
        return PlainTextResponse("ok")

    app = vigie.instrument_asgi(Starlette(routes=[Route("/x", endpoint)]), registry=registry)
    async with client(app) as http:
        await http.get("/x")
    assert during == [1.0]
    assert (
        registry.get_sample_value(ACTIVE, {"http_request_method": "GET", "url_scheme": "http"}) == 0
    )


async def test_chunked_request_body_counted_as_read(registry: CollectorRegistry) -> None:
    """A request body without Content-Length is measured in the bytes the app reads."""

    async def parts() -> Any:
        yield b"abc"
        yield b"defgh"

    app = vigie.instrument_asgi(starlette_app(), registry=registry)
    async with client(app) as http:
        response = await http.post("/echo", content=parts())
    assert response.content == b"abcdefgh"
    size = registry.get_sample_value(
        "http_server_request_body_size_bytes_sum", labels("/echo", 200, "POST")
    )
    assert size == 8


async def test_excluded_paths_from_option_and_environment(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """excluded_paths (exact and prefix*) and VIGIE_EXCLUDED_PATHS keep requests unrecorded."""
    app = vigie.instrument_asgi(
        starlette_app(), registry=registry, excluded_paths=["/hello/ada", "/static/*"]
    )
    async with client(app) as http:
        await http.get("/hello/ada")
        await http.get("/static/b/files/1")
        await http.get("/hello/bob")
    assert count(registry, "/hello/{name}", 200) == 1
    assert count(registry, "/static/{bucket}/files/{file_id}", 200) is None

    monkeypatch.setenv("VIGIE_EXCLUDED_PATHS", "/hello/*")
    other = CollectorRegistry()
    app = vigie.instrument_asgi(starlette_app(), registry=other)
    async with client(app) as http:
        await http.get("/hello/bob")
        await http.get("/static/b/files/1")
    assert count(other, "/hello/{name}", 200) is None
    assert count(other, "/static/{bucket}/files/{file_id}", 200) == 1


async def test_raw_asgi_app_uses_route_resolver(registry: CollectorRegistry) -> None:
    """An ASGI app without Starlette routes gets its templates from route_resolver."""

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def resolver(scope: Any) -> str | None:
        return "/users/{id}" if scope["path"].startswith("/users/") else None

    app = vigie.instrument_asgi(raw, registry=registry, route_resolver=resolver)
    async with client(app) as http:
        await http.get("/users/1")
        await http.get("/users/2")
        await http.get("/other")
    assert count(registry, "/users/{id}", 204) == 2
    assert count(registry, "", 204) == 1


@pytest.mark.parametrize("full_path", [False, True], ids=["common path", "full path"])
async def test_internal_error_lets_the_request_proceed(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch, full_path: bool
) -> None:
    """When recording fails inside vigie, the response still reaches the client."""

    def broken(self: HttpServerMetrics, *args: Any) -> None:
        raise ZeroDivisionError("vigie bug")

    monkeypatch.setattr(HttpServerMetrics, "record", broken)
    monkeypatch.setattr(HttpServerMetrics, "series", broken)
    errors: list[str] = []
    monkeypatch.setattr(asgi, "log_internal_error", errors.append)
    app = vigie.instrument_asgi(starlette_app(), registry=registry, exemplars=full_path)
    async with client(app) as http:
        response = await http.get("/hello/ada")
    assert response.status_code == 200
    assert response.text == "hello ada"
    assert errors == ["asgi.record"]


async def test_common_and_full_paths_record_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inline common path and the full path give every request the same series and values.

    ``exemplars=True`` sends every request through the full path (and adds no exemplar here:
    no span is active), so the two registries must agree sample for sample.
    """
    full_calls = counting_calls(monkeypatch, VigieMiddleware, "_call_in_full")
    common, full = CollectorRegistry(), CollectorRegistry()
    await workload(vigie.instrument_asgi(starlette_app(), registry=common))
    # Left to the full path: the chunked POST, BREW, /health/deep and /metricsx (prefix match).
    assert full_calls == [4]
    full_calls[0] = 0
    await workload(vigie.instrument_asgi(starlette_app(), registry=full, exemplars=True))
    assert full_calls == [17]  # every request
    samples = http_samples(common)
    assert samples == http_samples(full)
    assert count(common, "/hello/{name}", 200) == 3
    assert count(common, "/hello/{name}", 200, "_OTHER") is None  # BREW: 405 from Starlette
    body = "http_server_request_body_size_bytes"
    assert common.get_sample_value(f"{body}_count", labels("/hello/{name}", 200)) == 0
    assert common.get_sample_value(f"{body}_sum", labels("/echo", 200, "POST")) == 155
    assert common.get_sample_value(f"{body}_count", labels("/hello/{name}", 405, "DELETE")) == 1
    assert count(common, "", 404) == 3  # /static/b1/nothing, /wp-login.php, /metricsx
    https = {**labels("/hello/{name}", 200), "url_scheme": "https"}
    assert common.get_sample_value("http_server_requests_total", https) == 1
    assert count(common, "/fail", 500) == 1


async def test_routes_added_after_the_first_request_get_their_templates(
    registry: CollectorRegistry,
) -> None:
    """A route added later is recorded under its template, and earlier routes keep theirs."""
    app = starlette_app()
    middleware = vigie.instrument_asgi(app, registry=registry)
    async with client(middleware) as http:
        await http.get("/hello/ada")
        app.router.routes.append(Route("/late/{name}", hello))
        assert (await http.get("/late/x")).status_code == 200
        await http.get("/hello/bob")
    assert count(registry, "/late/{name}", 200) == 1
    assert count(registry, "/hello/{name}", 200) == 2


async def test_exemplar_attached_to_the_duration(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The current trace becomes the exemplar of the latency bucket in OpenMetrics output."""
    trace = {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"}
    monkeypatch.setattr(asgi, "current_exemplar", lambda: trace)
    app = vigie.instrument_asgi(starlette_app(), registry=registry, exemplars=True)
    async with client(app) as http:
        await http.get("/hello/ada")
        scrape = await http.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    exemplar_lines = [
        line
        for line in scrape.text.splitlines()
        if line.startswith("http_server_request_duration_seconds_bucket") and " # {" in line
    ]
    assert len(exemplar_lines) == 1
    assert 'trace_id="0af7651916cd43dd8448eb211c80319c"' in exemplar_lines[0]


async def test_head_metrics_has_headers_and_no_body(registry: CollectorRegistry) -> None:
    """HEAD /metrics answers 200 with the headers and an empty body."""
    app = vigie.instrument_asgi(starlette_app(), registry=registry)
    async with client(app) as http:
        response = await http.head("/metrics")
    assert response.status_code == 200
    assert response.content == b""


def test_hundred_thousand_random_404_urls_add_no_series(registry: CollectorRegistry) -> None:
    """A scan of 100,000 random URLs with random methods adds no series after the first ones."""
    app = vigie.instrument_asgi(starlette_app(), registry=registry)

    async def send(message: Any) -> None:
        return None

    def series() -> set[tuple[str, tuple[tuple[str, str], ...]]]:
        return {
            (sample.name, tuple(sorted(sample.labels.items())))
            for metric in registry.collect()
            for sample in metric.samples
        }

    async def scan(count: int, seed: int) -> None:
        rng = random.Random(seed)
        words = ["".join(rng.choices(string.ascii_letters + "-_.%~", k=8)) for _ in range(5000)]
        methods = ["GET", "GET", "GET", "POST", "PROPFIND", "BREW", "get"]
        for index in range(count):
            path = f"/{words[index % 5000]}/{rng.getrandbits(40):x}"
            await app(scope(path, methods[index % 7]), no_body, send)

    asyncio.run(scan(1_000, seed=1))
    before = series()
    asyncio.run(scan(100_000, seed=2))
    assert series() == before
    recorded = {
        (pairs["http_request_method"], pairs["http_route"], pairs["http_response_status_code"])
        for name, labels_ in before
        if name == "http_server_requests_total" and (pairs := dict(labels_))
    }
    assert recorded == {("GET", "", "404"), ("POST", "", "404"), ("_OTHER", "", "404")}


def test_middleware_validates_options_at_construction() -> None:
    """Bad options fail when the middleware is built, with the option named."""

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        return None

    with pytest.raises(InstrumentationError, match="ASGI callable"):
        VigieMiddleware("not an app")  # type: ignore[arg-type]
    with pytest.raises(InstrumentationError, match="registry"):
        VigieMiddleware(raw, registry="global")
    with pytest.raises(InstrumentationError, match="not a string"):
        VigieMiddleware(raw, excluded_paths="/metrics")
    with pytest.raises(InstrumentationError, match="route_resolver"):
        VigieMiddleware(raw, route_resolver=42)
    with pytest.raises(TypeError):
        VigieMiddleware(raw, no_such_option=True)


async def test_json_response_body_size_matches_bytes_sent(registry: CollectorRegistry) -> None:
    """The response-size histogram sums exactly the bytes of the bodies sent."""

    async def data(request: Request) -> Response:
        return JSONResponse({"values": list(range(int(request.path_params["n"])))})

    app = vigie.instrument_asgi(Starlette(routes=[Route("/data/{n}", data)]), registry=registry)
    async with client(app) as http:
        sizes = [len((await http.get(f"/data/{n}")).content) for n in (0, 10, 1000)]
    assert registry.get_sample_value(
        "http_server_response_body_size_bytes_sum", labels("/data/{n}", 200)
    ) == sum(sizes)
    assert (
        registry.get_sample_value(
            "http_server_response_body_size_bytes_bucket",
            {**labels("/data/{n}", 200), "le": "100.0"},
        )
        == 2
    )


async def test_root_path_prefix_is_ignored_for_special_paths(registry: CollectorRegistry) -> None:
    """Behind a proxy prefix (root_path), /prefix/metrics is still answered and not recorded."""
    app = vigie.instrument_asgi(starlette_app(), registry=registry)
    transport = httpx.ASGITransport(app=app, root_path="/shop")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        hello = await http.get("/shop/hello/ada")
        metrics = await http.get("/shop/metrics")
    assert hello.text == "hello ada"
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert count(registry, "/hello/{name}", 200) == 1


async def test_internal_error_before_the_app_still_serves(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When vigie fails while starting to record, the app still serves the request."""

    def broken(request_id: str) -> Any:
        raise OSError("vigie bug")

    monkeypatch.setattr(asgi, "bind_request_id", broken)
    app = vigie.instrument_asgi(starlette_app(), registry=registry, request_id=True)
    with swallowing_internal_errors():
        async with client(app) as http:
            response = await http.get("/hello/ada")
    assert response.text == "hello ada"
    assert count(registry, "/hello/{name}", 200) is None


def drive(app: Any, requests: int, path: str = "/hello/ada") -> None:
    """Send ``requests`` GETs straight into ``app`` on a fresh event loop."""

    async def send(message: Any) -> None:
        return None

    async def run() -> None:
        for _ in range(requests):
            await app(scope(path), no_body, send)

    asyncio.run(run())


def scraped(app: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrape ``app``'s own /metrics through the middleware and parse the text."""
    from prometheus_client.parser import text_string_to_metric_families

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope("/metrics"), no_body, send))
    body = b"".join(message.get("body", b"") for message in sent[1:]).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_scrape_right_after_requests_sees_every_one(registry: CollectorRegistry) -> None:
    """/metrics served right after N requests reports exactly N, buffered ones included."""
    app = vigie.instrument_asgi(starlette_app(), registry=registry)
    drive(app, 1500)  # full batches folded on the request path, the rest still buffered
    assert app.metrics.pending == 1500 % app.metrics.batch_size > 0
    samples = scraped(app)
    key = tuple(sorted(labels("/hello/{name}", 200).items()))
    assert samples[("http_server_requests_total", key)] == 1500
    assert samples[("http_server_request_duration_seconds_count", key)] == 1500
    assert samples[("http_server_response_body_size_bytes_sum", key)] == 1500 * len("hello ada")
    in_flight = (("http_request_method", "GET"), ("url_scheme", "http"))
    assert samples[("http_server_active_requests", in_flight)] == 0


def test_requests_from_several_threads_are_all_counted(registry: CollectorRegistry) -> None:
    """Event loops in four threads share one middleware; the totals are exact."""
    app = vigie.instrument_asgi(starlette_app(), registry=registry)
    app.metrics.batch_size = 16
    threads = [threading.Thread(target=drive, args=(app, 300)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert count(registry, "/hello/{name}", 200) == 1200


def test_fold_failure_does_not_break_the_request(
    registry: CollectorRegistry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug while folding on the request path is logged on vigie.internal; responses go out."""

    class FoldingBugError(Exception):
        pass

    def broken(self: http_folding.Folder, batch: Any) -> None:
        raise FoldingBugError("fold")

    app = vigie.instrument_asgi(starlette_app(), registry=registry)
    app.metrics.batch_size = 2
    monkeypatch.setattr(http_folding.Folder, "_add", broken)
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def run() -> None:
        for _ in range(3):
            await app(scope("/hello/ada"), no_body, send)

    with swallowing_internal_errors(), caplog.at_level(logging.ERROR, logger="vigie.internal"):
        asyncio.run(run())
    assert [message["status"] for message in sent if "status" in message] == [200, 200, 200]
    assert any("http_metrics.fold" in record.getMessage() for record in caplog.records)
    assert {record.name for record in caplog.records} == {"vigie.internal"}
