"""A real OTLP/HTTP server in front of a TelemetryService, and OTLP payload builders."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from vigie.telemetry import TelemetryService


class OtlpHttpServer:
    """``POST /v1/traces`` and ``/v1/logs`` on a free port, bodies handed to ``service``."""

    def __init__(self, service: TelemetryService) -> None:
        self.service = service
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ingest = {
                    "/v1/traces": server.service.ingest_traces,
                    "/v1/logs": server.service.ingest_logs,
                }.get(self.path)
                if ingest is None:
                    self.send_error(404)
                    return
                status, headers, reply = ingest(
                    body, self.headers.get("Content-Type"), self.headers.get("Content-Encoding")
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


@dataclass
class Served:
    """A service and the HTTP server in front of it."""

    service: TelemetryService
    http: OtlpHttpServer

    @property
    def url(self) -> str:
        return self.http.url


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A TelemetryService in ``tmp_path/data`` behind a real OTLP/HTTP server."""
    service = TelemetryService(tmp_path / "data", retention_interval=3600)
    http = OtlpHttpServer(service)
    try:
        yield Served(service, http)
    finally:
        http.close()
        service.close()


def attribute(key: str, value: Any) -> KeyValue:
    """One OTLP KeyValue."""
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def pb_span(
    trace: str,
    span: str,
    name: str,
    start_ns: int,
    end_ns: int,
    *,
    parent: str = "",
    kind: int = 1,
    error: bool = False,
    attributes: dict[str, Any] | None = None,
) -> PbSpan:
    """A protobuf span with hex ids."""
    return PbSpan(
        trace_id=bytes.fromhex(trace),
        span_id=bytes.fromhex(span),
        parent_span_id=bytes.fromhex(parent),
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start_ns,
        end_time_unix_nano=end_ns,
        status=Status(code=2 if error else 0),  # type: ignore[arg-type]
        attributes=[attribute(k, v) for k, v in (attributes or {}).items()],
    )


def trace_request(service: str, spans: list[PbSpan]) -> ExportTraceServiceRequest:
    """One resource (``service.name``), one scope, these spans."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(attribute("service.name", service))
    resource_spans.scope_spans.add().spans.extend(spans)
    return request


def logs_request(service: str, records: list[PbLogRecord]) -> ExportLogsServiceRequest:
    """One resource (``service.name``), one scope, these records."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(attribute("service.name", service))
    resource_logs.scope_logs.add().log_records.extend(records)
    return request


@pytest.fixture
def otlp() -> Any:
    """The payload builders above, for tests (conftest modules cannot be imported by name)."""
    import types

    return types.SimpleNamespace(
        attribute=attribute,
        span=pb_span,
        traces=trace_request,
        logs=logs_request,
        LogRecord=PbLogRecord,
        AnyValue=AnyValue,
    )
