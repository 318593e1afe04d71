"""Real FastAPI apps (vigie SDK, then plain OpenTelemetry exporters) send to a real OTLP server.

The app is served by uvicorn; its exporters post protobuf to an HTTP server whose handler hands
the bodies to a TelemetryService. Searches must return exactly the spans and lines the requests
produced, and the same after a restart of the service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

import vigie
from support import free_port
from support.otlp_receiver import reset_opentelemetry
from vigie.sdk import configuration, tracing
from vigie.telemetry import LogQuery, SpanQuery, TelemetryService

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yields its base URL."""
    import uvicorn

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
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _fastapi(**options: Any) -> Any:
    import inspect

    from fastapi import FastAPI

    if "telemetry" in inspect.signature(FastAPI).parameters:
        options.setdefault("telemetry", {"tracing": False})
    return FastAPI(**options)


def test_vigie_sdk_app_spans_and_logs_are_stored_and_searchable(
    served: Any, tmp_path: Path
) -> None:
    """One request -> its server span and stages, and its log lines with trace and request ids."""
    registry = CollectorRegistry()
    vigie.configure(
        "faq-bot",
        "test",
        otlp_endpoint=served.url,
        logs={"otlp": True, "stream": "none"},
        registry=registry,
        environ={},
    )
    try:
        app = _fastapi()
        vigie.instrument_fastapi(app, registry=registry)
        log = logging.getLogger("faq")

        @app.get("/answer")
        async def answer(q: str) -> dict[str, str]:
            with vigie.span("validate", length=len(q)):
                log.info("question received", extra={"stage": "validate"})
            with tracing.retrieval_span("faq-index", top_k=3) as search:
                search.set_result(documents=3, top_score=0.9)
            log.warning("answered slowly", extra={"tokens": 49})
            return {"answer": "ok"}

        with serving(app) as url:
            response = httpx.get(
                f"{url}/answer",
                params={"q": "where is my order?"},
                headers={
                    "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01",
                    "X-Request-ID": "req-123",
                },
            )
            assert response.status_code == 200
            assert tracing.flush()
    finally:
        configuration.shutdown()
        reset_opentelemetry()

    service: TelemetryService = served.service
    assert service.flush()
    spans = service.search_spans(SpanQuery(service="faq-bot"))
    assert sorted(span.name for span in spans) == [
        "GET /answer",
        "retrieval faq-index",
        "validate",
    ]
    assert {span.trace_id for span in spans} == {CALLER_TRACE}
    trace = service.get_trace(CALLER_TRACE)
    assert trace is not None
    tree = [(row.span.name, row.depth) for row in trace.spans]
    assert tree == [("GET /answer", 0), ("validate", 1), ("retrieval faq-index", 1)]
    assert trace.spans[0].span.parent_span_id == CALLER_SPAN  # the caller's span is not here
    server_span = trace.spans[0].span
    assert server_span.kind == "SERVER"
    assert server_span.attributes["http.route"] == "/answer"
    assert server_span.resource["service.name"] == "faq-bot"
    assert [
        s.name for s in service.search_spans(SpanQuery(attributes={"http.route": "/answer"}))
    ] == ["GET /answer"]

    lines = service.trace_logs(CALLER_TRACE)
    faq = [line.record for line in lines if line.record.scope == "faq"]
    assert [(r.body, r.level, r.severity_number) for r in faq] == [
        ("question received", "INFO", 9),
        ("answered slowly", "WARNING", 13),
    ]
    assert faq[0].span_id == trace.spans[1].span.span_id
    assert {r.request_id for r in faq} == {"req-123"}
    by_request = service.search_logs(LogQuery(request_id="req-123", min_level="warn"))
    assert [line.record.body for line in by_request] == ["answered slowly"]
    assert [line.record.body for line in service.search_logs(LogQuery(fields={"tokens": 49}))] == [
        "answered slowly"
    ]
    samples = {
        labels["span_name"]: value
        for labels, value in service.span_metric_samples()
        if labels["__name__"] == "traces_spanmetrics_calls_total"
    }
    assert samples == {"GET /answer": 1.0, "validate": 1.0, "retrieval faq-index": 1.0}

    # Restart: everything is still there.
    before = [span.span_id for span in spans]
    service.close()
    reopened = TelemetryService(service.data_dir)
    try:
        assert [s.span_id for s in reopened.search_spans(SpanQuery(service="faq-bot"))] == before
        assert len(reopened.trace_logs(CALLER_TRACE)) == len(lines)
    finally:
        reopened.close()


def test_plain_opentelemetry_exporters_with_gzip(served: Any) -> None:
    """The OTel SDK's own OTLP/HTTP exporters (gzip) and FastAPI instrumentor are understood."""
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": "plain-app"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{served.url}/v1/traces", compression=Compression.Gzip)
        )
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=f"{served.url}/v1/logs", compression=Compression.Gzip)
        )
    )
    # The OTel logs API directly (the SDK's logging.Handler is deprecated in this version).
    otel_log = logger_provider.get_logger("plain.orders")
    tracer = tracer_provider.get_tracer("plain.orders")

    app = _fastapi()

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        with tracer.start_as_current_span("load order") as span:
            span.set_attribute("order.id", order_id)
            if order_id == 13:
                otel_log.emit(
                    body=f"order {order_id} not found",
                    severity_number=SeverityNumber.ERROR,
                    severity_text="ERROR",
                    attributes={"order.id": order_id},
                )
                span.set_status(trace_status_error())
        return {"id": order_id}

    FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
    try:
        with serving(app) as url:
            assert httpx.get(f"{url}/orders/7").status_code == 200
            assert httpx.get(f"{url}/orders/13").status_code == 200
        assert tracer_provider.force_flush()
        assert logger_provider.force_flush()
    finally:
        FastAPIInstrumentor.uninstrument_app(app)
        tracer_provider.shutdown()
        logger_provider.shutdown()

    service: TelemetryService = served.service
    assert service.flush()
    servers = service.search_spans(SpanQuery(service="plain-app", kind="SERVER"))
    assert sorted(span.name for span in servers) == ["GET /orders/{order_id}"] * 2
    failed = service.search_spans(SpanQuery(service="plain-app", status="ERROR"))
    assert [(s.name, s.attributes["order.id"]) for s in failed] == [("load order", 13)]
    trace = service.get_trace(failed[0].trace_id)
    assert trace is not None
    assert trace.spans[0].span.name == "GET /orders/{order_id}"
    assert "load order" in [row.span.name for row in trace.spans if row.depth >= 1]
    errors = service.search_logs(LogQuery(service="plain-app", level="error"))
    assert [(line.record.body, line.record.trace_id) for line in errors] == [
        ("order 13 not found", failed[0].trace_id)
    ]


def trace_status_error() -> Any:
    """An OpenTelemetry ERROR status."""
    from opentelemetry.trace import Status, StatusCode

    return Status(StatusCode.ERROR)
