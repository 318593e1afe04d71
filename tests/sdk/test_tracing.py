"""Tracing: spans exported by OTLP/HTTP to a real local endpoint, W3C propagation, exemplars."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import requests
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

import vigie
from support.otlp_receiver import OtlpReceiver, reset_opentelemetry
from vigie.sdk import tracing
from vigie.sdk.genai import track_llm

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    """A local OTLP/HTTP endpoint; tracing installed to export to it, removed afterwards."""
    with OtlpReceiver() as endpoint:
        tracing.install(service_name="test-svc", environment="test", endpoint=endpoint.endpoint)
        try:
            yield endpoint
        finally:
            tracing.uninstall()
            reset_opentelemetry()


def exported(receiver: OtlpReceiver, count: int) -> list[dict[str, Any]]:
    assert tracing.flush()
    return receiver.wait_for_spans(count)


def test_off_until_installed() -> None:
    """Before configuration every entry point is a no-op and returns nothing."""
    assert not tracing.is_enabled()
    assert tracing.start_server_span("GET", "/", {}) is None
    assert tracing.current_exemplar() is None
    with vigie.span("stage") as stage:
        stage.set_attribute("x", 1)
        assert not stage.recording
    with tracing.genai_span("chat", "openai", "gpt-4o-mini") as call:
        call.set_response(input_tokens=1)
    assert tracing.inject_headers({}) == {}


def test_switch_follows_install_and_uninstall() -> None:
    """The middlewares' per-request switch mirrors is_enabled() through install and uninstall."""
    assert not tracing.switch.enabled
    with OtlpReceiver() as endpoint:
        tracing.install(service_name="test-svc", endpoint=endpoint.endpoint)
        try:
            assert tracing.switch.enabled
            assert tracing.is_enabled()
        finally:
            tracing.uninstall()
            reset_opentelemetry()
    assert not tracing.switch.enabled
    assert not tracing.is_enabled()


def test_user_spans_nest_and_export(receiver: OtlpReceiver) -> None:
    """vigie.span blocks nest; attributes, resource and error status reach the endpoint."""
    with vigie.span("pipeline", items=3) as outer:
        outer.set_attribute("user_tier", "free")
        with vigie.span("validate"):
            pass
        with pytest.raises(ValueError), vigie.span("format"):
            raise ValueError("bad")
    spans = {span["name"]: span for span in exported(receiver, 3)}
    root = spans["pipeline"]
    assert root["parent_span_id"] is None
    assert root["attributes"] == {"items": 3, "user_tier": "free"}
    assert root["resource"]["service.name"] == "test-svc"
    assert root["resource"]["deployment.environment.name"] == "test"
    assert spans["validate"]["parent_span_id"] == root["span_id"]
    assert spans["format"]["parent_span_id"] == root["span_id"]
    assert spans["format"]["status"] == 2  # STATUS_CODE_ERROR
    assert spans["format"]["attributes"]["error.type"] == "ValueError"
    assert "exception" in spans["format"]["events"]
    assert {span["trace_id"] for span in spans.values()} == {root["trace_id"]}


def test_span_decorator_sync_and_async(receiver: OtlpReceiver) -> None:
    """As a decorator, span opens one span per call, for plain and async functions."""

    @vigie.span("double")
    def double(x: int) -> int:
        return 2 * x

    @vigie.span("fetch", source="cache")
    async def fetch() -> str:
        return "ok"

    assert double(2) == 4
    assert double(3) == 6
    assert asyncio.run(fetch()) == "ok"
    spans = exported(receiver, 3)
    assert sorted(span["name"] for span in spans) == ["double", "double", "fetch"]
    assert next(s for s in spans if s["name"] == "fetch")["attributes"] == {"source": "cache"}


def test_server_span_continues_the_incoming_trace(receiver: OtlpReceiver) -> None:
    """A traceparent header makes the server span a child of the caller's span."""
    headers = {"TraceParent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"}
    server = tracing.start_server_span("GET", "/items/{item_id}", headers)
    assert server is not None
    assert tracing.current_trace_ids() is not None
    ids = tracing.current_trace_ids()
    assert ids is not None
    assert ids[0] == PARENT_TRACE
    with vigie.span("lookup"):
        pass
    server.finish(200)
    assert tracing.current_trace_ids() is None  # context restored
    spans = {span["name"]: span for span in exported(receiver, 2)}
    root = spans["GET /items/{item_id}"]
    assert root["kind"] == "SERVER"
    assert root["trace_id"] == PARENT_TRACE
    assert root["parent_span_id"] == PARENT_SPAN
    assert root["attributes"] == {
        "http.request.method": "GET",
        "http.route": "/items/{item_id}",
        "http.response.status_code": 200,
    }
    assert root["status"] == 0
    assert spans["lookup"]["parent_span_id"] == root["span_id"]


def test_server_span_errors_and_late_route(receiver: OtlpReceiver) -> None:
    """A 5xx or an exception marks the span as an error; a route given at finish names it."""
    first = tracing.start_server_span("POST", None, {})
    assert first is not None
    first.finish(503, route="/jobs")
    second = tracing.start_server_span("GET", None, {})
    assert second is not None
    second.finish(500, RuntimeError("boom"))
    spans = {span["name"]: span for span in exported(receiver, 2)}
    assert spans["POST /jobs"]["attributes"]["error.type"] == "503"
    assert spans["POST /jobs"]["attributes"]["http.route"] == "/jobs"
    assert spans["POST /jobs"]["status"] == 2
    assert spans["GET"]["attributes"]["error.type"] == "RuntimeError"
    assert spans["GET"]["parent_span_id"] is None


def test_genai_and_retrieval_spans(receiver: OtlpReceiver) -> None:
    """GenAI and retrieval spans carry semantic-convention attributes, no message content."""
    with vigie.span("answer"):
        with tracing.retrieval_span("faq-index", top_k=4) as search:
            search.set_result(documents=4, top_score=0.81)
        with tracing.genai_span("chat", "openai", "gpt-4o-mini", temperature=0.2) as call:
            call.set_response(
                model="gpt-4o-mini-2024-07-18",
                response_id="chatcmpl-1",
                finish_reasons=["stop"],
                input_tokens=120,
                output_tokens=30,
            )
            call.record_messages([{"role": "user", "content": "my mail is a@b.example"}])
    spans = {span["name"]: span for span in exported(receiver, 3)}
    llm = spans["chat gpt-4o-mini"]
    assert llm["kind"] == "CLIENT"
    assert llm["attributes"] == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
    }
    retrieval = spans["retrieval faq-index"]
    assert retrieval["attributes"] == {
        "gen_ai.operation.name": "retrieval",
        "gen_ai.data_source.id": "faq-index",
        "gen_ai.request.top_k": 4,
        "vigie.retrieval.documents": 4,
        "vigie.retrieval.top_score": 0.81,
    }
    assert llm["parent_span_id"] == retrieval["parent_span_id"] == spans["answer"]["span_id"]


def test_message_capture_is_opt_in_and_redacted() -> None:
    """With capture_content on, messages are recorded, with personal data masked."""
    with OtlpReceiver() as receiver:
        tracing.install(service_name="svc", endpoint=receiver.endpoint, capture_content=True)
        try:
            with tracing.genai_span("chat", "openai", "m") as call:
                call.record_messages(
                    [{"role": "user", "content": "call me at 06 12 34 56 78"}],
                    [{"role": "assistant", "content": "ok"}],
                )
            spans = exported(receiver, 1)
        finally:
            tracing.uninstall()
            reset_opentelemetry()
    attributes = spans[0]["attributes"]
    assert attributes["gen_ai.input.messages"] == (
        '[{"role": "user", "content": "call me at [REDACTED:phone]"}]'
    )
    assert attributes["gen_ai.output.messages"] == '[{"role": "assistant", "content": "ok"}]'


def test_llm_calls_measured_by_the_sdk_get_spans(
    receiver: OtlpReceiver, registry: CollectorRegistry
) -> None:
    """track_llm (and so the OpenAI/Anthropic wrappers) opens a GenAI client span per call."""
    with vigie.span("generate"):
        with track_llm(provider="openai", model="gpt-4o", registry=registry) as call:
            call.set_usage(input_tokens=10, output_tokens=5)
            call.set_response_model("gpt-4o-2024-08-06")
        with (
            pytest.raises(TimeoutError),
            track_llm(provider="openai", model="gpt-4o", registry=registry),
        ):
            raise TimeoutError
    spans = exported(receiver, 3)
    parent = next(s for s in spans if s["name"] == "generate")
    calls = [s for s in spans if s["name"] == "chat gpt-4o"]
    assert len(calls) == 2
    ok, failed = sorted(calls, key=lambda s: s["status"])
    assert ok["attributes"]["gen_ai.usage.input_tokens"] == 10
    assert ok["attributes"]["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert ok["attributes"]["gen_ai.provider.name"] == "openai"
    assert failed["attributes"]["error.type"] == "timeout"
    assert {c["parent_span_id"] for c in calls} == {parent["span_id"]}


def test_parent_based_sampling() -> None:
    """Ratio 0 drops new traces but follows a sampled parent's decision."""
    with OtlpReceiver() as receiver:
        tracing.install(service_name="svc", endpoint=receiver.endpoint, sample_ratio=0.0)
        try:
            with vigie.span("dropped") as dropped:
                assert not dropped.recording
                assert tracing.current_exemplar() is None
            server = tracing.start_server_span(
                "GET", "/", {"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"}
            )
            assert server is not None
            server.finish(200)
            spans = exported(receiver, 1)
        finally:
            tracing.uninstall()
            reset_opentelemetry()
    assert [span["name"] for span in spans] == ["GET /"]


def test_exemplar_links_histogram_to_trace(receiver: OtlpReceiver) -> None:
    """Inside a sampled span, an observation carries the trace id as an OpenMetrics exemplar."""
    registry = CollectorRegistry()
    latency = Histogram("demo_latency_seconds", "Latency.", registry=registry, buckets=[0.1, 1])
    with vigie.span("request"):
        exemplar = tracing.current_exemplar()
        ids = tracing.current_trace_ids()
        latency.observe(0.5, exemplar)
    assert exemplar is not None
    assert ids is not None
    assert exemplar == {"trace_id": ids[0], "span_id": ids[1]}
    text = generate_openmetrics(registry).decode()
    assert f'# {{span_id="{ids[1]}",trace_id="{ids[0]}"}} 0.5' in text
    assert "trace_id" not in generate_latest(registry).decode()  # plain text format has none


class _HeaderEcho(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []  # noqa: RUF012 - test collector

    def do_GET(self) -> None:
        _HeaderEcho.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    """A local HTTP server recording the headers it receives."""
    _HeaderEcho.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HeaderEcho)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_outgoing_calls_carry_traceparent(receiver: OtlpReceiver, echo_url: str) -> None:
    """httpx (sync and async) and requests send the current span's traceparent."""

    async def async_call() -> None:
        async with httpx.AsyncClient() as client:
            await client.get(echo_url)

    with vigie.span("outgoing"):
        ids = tracing.current_trace_ids()
        httpx.get(echo_url)
        requests.get(echo_url, timeout=5)
        asyncio.run(async_call())
        httpx.get(echo_url, headers={"traceparent": "00-custom"})
        manual = tracing.inject_headers({"accept": "*/*"})
    assert ids is not None
    assert manual["traceparent"].startswith(f"00-{ids[0]}-{ids[1]}-")
    assert manual["accept"] == "*/*"
    sent = [seen.get("traceparent", "") for seen in _HeaderEcho.seen]
    # The flags byte says "sampled" (and, in recent SDKs, "random trace id"): 01 or 03.
    assert [value[:-2] for value in sent[:3]] == [f"00-{ids[0]}-{ids[1]}-"] * 3
    assert {value[-2:] for value in sent[:3]} <= {"01", "03"}
    assert sent[3] == "00-custom"
    tracing.uninstall()
    httpx.get(echo_url)
    assert "traceparent" not in _HeaderEcho.seen[-1]


def test_bounded_queue_when_endpoint_is_down() -> None:
    """With nowhere to export, spans beyond the queue size are dropped, not kept."""
    from support import free_port

    tracing.install(
        service_name="svc",
        endpoint=f"http://127.0.0.1:{free_port()}",
        queue_size=8,
        export_timeout=0.5,
    )
    try:
        for index in range(2000):
            with vigie.span(f"s{index}"):
                pass
        state = tracing._active
        assert state is not None
        processor = state.provider._active_span_processor._span_processors[0]
        assert len(processor._batch_processor._queue) <= 8
    finally:
        tracing.uninstall()
        reset_opentelemetry()
