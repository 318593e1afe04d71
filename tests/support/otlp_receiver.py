"""A real OTLP/HTTP endpoint for tests: decodes protobuf trace and log exports into plain dicts.

It speaks the wire format of an OpenTelemetry collector (``POST /v1/traces`` and ``/v1/logs``,
``application/x-protobuf``, optional gzip), so the exporters under test run unchanged.

Example::

    with OtlpReceiver() as receiver:
        ...  # configure an exporter with receiver.endpoint
        spans = receiver.wait_for_spans(3)
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return None if kind is None else getattr(value, kind)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


@dataclass
class OtlpReceiver:
    """A threaded HTTP server collecting decoded spans and log records."""

    spans: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    receiver._take_traces(body)
                    reply = ExportTraceServiceResponse().SerializeToString()
                elif self.path == "/v1/logs":
                    receiver._take_logs(body)
                    reply = ExportLogsServiceResponse().SerializeToString()
                else:
                    self.send_error(404)
                    return
                with receiver._lock:
                    receiver.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _take_traces(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        found = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex() or None,
                            "kind": KINDS[span.kind],
                            "attributes": _attributes(span.attributes),
                            "status": span.status.code,
                            "events": [event.name for event in span.events],
                            "resource": resource,
                        }
                    )
        with self._lock:
            self.spans.extend(found)

    def _take_logs(self, body: bytes) -> None:
        request = ExportLogsServiceRequest()
        request.ParseFromString(body)
        found = []
        for resource_logs in request.resource_logs:
            resource = _attributes(resource_logs.resource.attributes)
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    found.append(
                        {
                            "body": _value(record.body),
                            "severity_text": record.severity_text,
                            "severity_number": record.severity_number,
                            "trace_id": record.trace_id.hex() or None,
                            "span_id": record.span_id.hex() or None,
                            "attributes": _attributes(record.attributes),
                            "logger": scope_logs.scope.name,
                            "resource": resource,
                        }
                    )
        with self._lock:
            self.logs.extend(found)

    def _wait(self, items: Callable[[], list[dict[str, Any]]], count: int, timeout: float) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                current = list(items())
            if len(current) >= count:
                return current
            time.sleep(0.02)
        with self._lock:
            current = list(items())
        raise AssertionError(f"expected {count} items, received {len(current)}: {current}")

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """At least ``count`` spans, waiting up to ``timeout`` seconds for them."""
        return self._wait(lambda: self.spans, count, timeout)

    def wait_for_logs(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """At least ``count`` log records, waiting up to ``timeout`` seconds for them."""
        return self._wait(lambda: self.logs, count, timeout)


def reset_opentelemetry() -> None:
    """Forget the global tracer provider, as OpenTelemetry's own test helpers do.

    OpenTelemetry lets a process set its global provider once; tests that configure tracing
    several times reset it so that no test sees another's provider.
    """
    from opentelemetry import trace
    from opentelemetry.util._once import Once

    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
