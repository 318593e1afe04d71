"""A real FastAPI app served by uvicorn, configured by vigie, exporting to a real OTLP endpoint.

One request goes through the whole chain: incoming ``traceparent`` and ``X-Request-ID``, the
server span of the middleware, a user stage, a retrieval span, an LLM call whose outgoing HTTP
request carries the trace on, log lines with the ids, and the latency exemplar on ``/metrics``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

import vigie
from support import free_port
from support.otlp_receiver import OtlpReceiver, reset_opentelemetry
from vigie.sdk import configuration, tracing
from vigie.sdk.genai import track_llm

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


class FakeLLM(BaseHTTPRequestHandler):
    """An OpenAI-like endpoint that records the headers it was sent."""

    seen: list[dict[str, str]] = []  # noqa: RUF012 - test collector

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        FakeLLM.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = json.dumps(
            {
                "model": "gpt-4o-mini-2024-07-18",
                "usage": {"prompt_tokens": 42, "completion_tokens": 7},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def native_telemetry_available() -> bool:
    """True for FastAPI versions that trace requests themselves when a tracer provider is set."""
    import inspect

    from fastapi import FastAPI

    return "telemetry" in inspect.signature(FastAPI).parameters


def build_app(llm_url: str, registry: CollectorRegistry, native: bool) -> Any:
    from fastapi import FastAPI

    # FastAPI's own telemetry, where it exists, traces the request too; vigie then joins its
    # server span instead of opening a second one. Both set-ups must give one tree.
    app = FastAPI() if native else FastAPI(telemetry={"tracing": False})
    vigie.instrument_fastapi(app, registry=registry)
    log = logging.getLogger("faq")

    @app.get("/answer")
    async def answer(q: str) -> dict[str, str]:
        with vigie.span("validate", length=len(q)):
            log.info("question from %s", "alice@example.com", extra={"stage": "validate"})
        with tracing.retrieval_span("faq-index", top_k=3) as search:
            search.set_result(documents=3, top_score=0.9)
        with track_llm(provider="openai", model="gpt-4o-mini", registry=registry) as call:
            async with httpx.AsyncClient() as client:
                reply = (await client.post(llm_url, json={"q": "[question]"})).json()
            call.set_usage(
                input_tokens=reply["usage"]["prompt_tokens"],
                output_tokens=reply["usage"]["completion_tokens"],
            )
            call.set_response_model(reply["model"])
        log.warning("answered", extra={"tokens": 49})
        return {"answer": "ok"}

    return app


@pytest.fixture(params=["vigie-server-span", "fastapi-native-server-span"])
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """OTLP receiver, fake LLM, vigie configured, and the app served by uvicorn in a thread."""
    import uvicorn

    native = request.param == "fastapi-native-server-span"
    if not native_telemetry_available():
        if native:
            pytest.skip("this FastAPI version has no native telemetry")
        native = True  # FastAPI() then has no telemetry of its own

    FakeLLM.seen = []
    llm = ThreadingHTTPServer(("127.0.0.1", 0), FakeLLM)
    threading.Thread(target=llm.serve_forever, args=(0.05,), daemon=True).start()
    registry = CollectorRegistry()
    log_file = tmp_path / "app.log"
    with OtlpReceiver() as receiver:
        vigie.configure(
            "faq-bot",
            "test",
            otlp_endpoint=receiver.endpoint,
            logs={"otlp": True, "file": str(log_file), "stream": "none"},
            registry=registry,
            environ={},
        )
        app = build_app(
            f"http://127.0.0.1:{llm.server_address[1]}/v1/chat/completions", registry, native
        )
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        try:
            yield {"url": f"http://127.0.0.1:{port}", "receiver": receiver, "log_file": log_file}
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            configuration.shutdown()
            reset_opentelemetry()
            llm.shutdown()
            llm.server_close()


def test_one_request_is_one_trace_with_ids_in_logs(stack: dict[str, Any]) -> None:
    """Server span → stage, retrieval and LLM child spans; log lines carry the same ids."""
    response = httpx.get(
        f"{stack['url']}/answer",
        params={"q": "where is my order?"},
        headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "X-Request-ID": "req-123"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-123"
    metrics = httpx.get(
        f"{stack['url']}/metrics", headers={"Accept": "application/openmetrics-text"}
    ).text

    assert tracing.flush()
    receiver: OtlpReceiver = stack["receiver"]
    spans = receiver.wait_for_spans(4)
    by_id = {span["span_id"]: span for span in spans}

    def ancestors(span: dict[str, Any]) -> list[str]:
        chain = []
        while span["parent_span_id"] in by_id:
            span = by_id[span["parent_span_id"]]
            chain.append(span["span_id"])
        return chain

    servers = [s for s in spans if s["kind"] == "SERVER" and s["trace_id"] == CALLER_TRACE]
    assert len(servers) == 1, "one server span per request"
    server = servers[0]
    assert server["name"] == "GET /answer"
    assert server["parent_span_id"] == CALLER_SPAN
    assert server["attributes"]["http.request.method"] == "GET"
    assert server["attributes"]["http.route"] == "/answer"
    assert server["attributes"]["http.response.status_code"] == 200
    assert server["resource"]["service.name"] == "faq-bot"
    children = {
        span["name"]: span
        for span in spans
        if span["trace_id"] == CALLER_TRACE and not span["name"].startswith(("GET", "fastapi."))
    }
    assert set(children) == {"validate", "retrieval faq-index", "chat gpt-4o-mini"}
    # The stages are siblings under the request (directly, or under FastAPI's endpoint span).
    handler_span = {child["parent_span_id"] for child in children.values()}
    assert len(handler_span) == 1
    handler_id = handler_span.pop()
    assert handler_id == server["span_id"] or server["span_id"] in ancestors(by_id[handler_id])
    llm = children["chat gpt-4o-mini"]
    assert llm["kind"] == "CLIENT"
    assert llm["attributes"]["gen_ai.usage.input_tokens"] == 42
    assert llm["attributes"]["gen_ai.usage.output_tokens"] == 7
    assert llm["attributes"]["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert children["retrieval faq-index"]["attributes"]["gen_ai.request.top_k"] == 3

    # The LLM provider was called with the trace context of the request.
    assert FakeLLM.seen[0]["traceparent"].startswith(f"00-{CALLER_TRACE}-")

    # Log lines: JSON file and OTLP, with the trace, span and request ids, redacted.
    configuration.shutdown()
    lines = [json.loads(line) for line in stack["log_file"].read_text().splitlines()]
    faq = [line for line in lines if line["logger"] == "faq"]
    assert [line["message"] for line in faq] == ["question from [REDACTED:email]", "answered"]
    assert faq[0]["span_id"] == children["validate"]["span_id"]
    assert faq[1]["span_id"] == handler_id
    assert {line["trace_id"] for line in faq} == {CALLER_TRACE}
    assert {line["request_id"] for line in faq} == {"req-123"}
    assert faq[0]["stage"] == "validate"
    assert faq[1]["tokens"] == 49
    shipped = [log for log in receiver.wait_for_logs(2) if log["logger"] == "faq"]
    assert [(log["trace_id"], log["span_id"]) for log in shipped] == [
        (CALLER_TRACE, children["validate"]["span_id"]),
        (CALLER_TRACE, handler_id),
    ]
    assert {log["attributes"]["vigie.request_id"] for log in shipped} == {"req-123"}

    # The latency observation links back to the trace.
    assert f'trace_id="{CALLER_TRACE}"' in metrics


def test_flask_request_is_traced_with_request_id_in_logs(tmp_path: Path) -> None:
    """A Flask app (WSGI, served by wsgiref) gets a server span continuing the caller's trace."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from flask import Flask

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    registry = CollectorRegistry()
    log_file = tmp_path / "app.log"
    app = Flask("shop")
    vigie.instrument_wsgi(app, registry=registry)

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> dict[str, int]:
        with vigie.span("load"):
            logging.getLogger("shop").info("loading %d for %s", item_id, "+33 6 12 34 56 78")
        return {"id": item_id}

    with OtlpReceiver() as receiver:
        vigie.configure(
            "shop",
            otlp_endpoint=receiver.endpoint,
            logs={"file": str(log_file), "stream": "none"},
            registry=registry,
            environ={},
        )
        server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            response = httpx.get(
                f"http://127.0.0.1:{server.server_address[1]}/items/7",
                headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
            )
            assert tracing.flush()
            spans = receiver.wait_for_spans(2)
        finally:
            server.shutdown()
            server.server_close()
            configuration.shutdown()
            reset_opentelemetry()
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    by_name = {span["name"]: span for span in spans}
    server_span = by_name["GET /items/<int:item_id>"]
    assert server_span["kind"] == "SERVER"
    assert (server_span["trace_id"], server_span["parent_span_id"]) == (CALLER_TRACE, CALLER_SPAN)
    assert by_name["load"]["parent_span_id"] == server_span["span_id"]
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    line = next(line for line in lines if line["logger"] == "shop")
    assert line["message"] == "loading 7 for [REDACTED:phone]"
    assert (line["trace_id"], line["span_id"]) == (CALLER_TRACE, by_name["load"]["span_id"])
    assert line["request_id"] == request_id
