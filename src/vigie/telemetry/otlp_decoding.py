"""OTLP/HTTP export requests (traces and logs) decoded into flat records, and the spec's replies.

Any OpenTelemetry SDK or collector posts ``ExportTraceServiceRequest`` or
``ExportLogsServiceRequest`` to ``/v1/traces`` and ``/v1/logs``, as protobuf
(``application/x-protobuf``) or JSON (``application/json``: lowerCamelCase fields, hex trace and
span ids, enums as integers), optionally gzip-compressed. This module turns a body into
:class:`Span` / :class:`LogRecord` lists and builds the reply OTLP/HTTP prescribes:

- 200 with an ``Export*ServiceResponse``; when some records are invalid (a trace id that is not 16
  non-zero bytes, an end before the start), the others are kept and ``partial_success`` counts the
  rejected ones with an error message;
- 400 with a ``google.rpc.Status`` body for a body that does not decode; 413 for one over the size
  limit (compressed or not); 415 for another content type or encoding; 429/503 with
  ``Retry-After`` when the server cannot take more now.

The reply is encoded like the request (protobuf or JSON).

Example::

    >>> import json
    >>> body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{
    ...     "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
    ...     "name": "GET /", "kind": 2, "startTimeUnixNano": "1000",
    ...     "endTimeUnixNano": "3000"}]}]}]})
    >>> batch = decode_traces(body.encode(), "application/json")
    >>> batch.records[0].name, batch.records[0].kind, batch.records[0].duration_ns
    ('GET /', 'SERVER', 2000)
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]
from google.protobuf.message import (  # type: ignore[import-untyped,unused-ignore]
    DecodeError,
    Message,
)
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from vigie.exceptions import PayloadError
from vigie.telemetry.records import SEVERITY_RANGES, LogRecord, Span, level_range

__all__ = [
    "DEFAULT_MAX_BYTES",
    "JSON",
    "PROTOBUF",
    "DecodedBatch",
    "OtlpResponse",
    "any_value",
    "decode_logs",
    "decode_traces",
    "error_response",
    "http_status",
    "media_type",
    "success_response",
]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
UNKNOWN_SERVICE = "unknown_service"
_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS = ("UNSET", "OK", "ERROR")
# google.rpc.Code values used in Status bodies.
_RPC_CODES = {400: 3, 413: 8, 415: 3, 429: 8, 503: 14}
_ZERO_TRACE = bytes(16)
_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})
_ZERO_SPAN = bytes(8)

RecordT = TypeVar("RecordT", Span, LogRecord)


@dataclass
class DecodedBatch(Generic[RecordT]):
    """The valid records of one request, and how many were rejected and why."""

    records: list[RecordT] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def reject(self, where: str, reason: str) -> None:
        """Count one rejected record; the first few reasons make the partial-success message."""
        self.rejected += 1
        if len(self.errors) < 3:
            self.errors.append(f"{where}: {reason}")

    @property
    def error_message(self) -> str:
        """The ``partial_success.error_message`` text ("" when nothing was rejected)."""
        if not self.rejected:
            return ""
        more = "; ..." if self.rejected > len(self.errors) else ""
        return f"{self.rejected} rejected: " + "; ".join(self.errors) + more


@dataclass(frozen=True)
class OtlpResponse:
    """An HTTP reply: status code, headers, body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes

    def as_tuple(self) -> tuple[int, dict[str, str], bytes]:
        """``(status, headers, body)``, what a web framework needs."""
        return self.status, self.headers, self.body


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``; raises 415-worthy errors."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind not in (PROTOBUF, JSON):
        raise _UnsupportedMediaError(
            f"unsupported content type {content_type!r}: send {PROTOBUF} or {JSON}",
            source="Content-Type",
        )
    return kind


class _TooLargeError(PayloadError):
    """The body is over the size limit (HTTP 413)."""


class _UnsupportedMediaError(PayloadError):
    """The Content-Type or Content-Encoding is not one OTLP/HTTP allows (HTTP 415)."""


def http_status(error: PayloadError) -> int:
    """The OTLP/HTTP status for a decoding error: 413 too large, 415 wrong media, else 400."""
    if isinstance(error, _TooLargeError):
        return 413
    if isinstance(error, _UnsupportedMediaError):
        return 415
    return 400


def _payload(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The decompressed body, refusing bombs: the limit applies before and after gzip."""
    if len(body) > max_bytes:
        raise _TooLargeError(f"body of {len(body)} bytes is over the {max_bytes}-byte limit")
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding != "gzip":
        raise _UnsupportedMediaError(
            f"unsupported content encoding {content_encoding!r}: send gzip or none",
            source="Content-Encoding",
        )
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as error:
        raise PayloadError(f"gzip body does not decompress: {error}") from None
    if len(data) > max_bytes:
        raise _TooLargeError(f"decompressed body is over the {max_bytes}-byte limit")
    if not inflater.eof:
        raise PayloadError("gzip body is truncated")
    return data


def _hex_to_base64(container: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        for name in (key, _snake(key)):
            value = container.get(name)
            if isinstance(value, str) and value:
                try:
                    raw = bytes.fromhex(value)
                except ValueError:
                    raise PayloadError(f"{where}.{name}: not hex digits: {value[:40]!r}") from None
                container[name] = base64.b64encode(raw).decode("ascii")


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _items(container: dict[str, Any], key: str) -> list[Any]:
    value = container.get(key, container.get(_snake(key)))
    return value if isinstance(value, list) else []


def _parse_json(data: bytes, message: Message, top: str, middle: str, leaf: str) -> None:
    """OTLP JSON into ``message``: hex ids become base64 first, as protobuf's JSON mapping wants."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadError(f"invalid JSON: {error}") from None
    if not isinstance(document, dict):
        raise PayloadError("invalid JSON: the body must be an object")
    for r, resource in enumerate(_items(document, top)):
        for s, scope in enumerate(_items(resource, middle) if isinstance(resource, dict) else []):
            records = _items(scope, leaf) if isinstance(scope, dict) else []
            for i, record in enumerate(records):
                if not isinstance(record, dict):
                    continue
                where = f"{top}[{r}].{middle}[{s}].{leaf}[{i}]"
                _hex_to_base64(record, ("traceId", "spanId", "parentSpanId"), where)
                for k, link in enumerate(_items(record, "links")):
                    if isinstance(link, dict):
                        _hex_to_base64(link, ("traceId", "spanId"), f"{where}.links[{k}]")
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise PayloadError(f"invalid OTLP JSON: {error}") from None


def _parse(data: bytes, kind: str, message: Message, path: tuple[str, str, str]) -> None:
    if kind == JSON:
        _parse_json(data, message, *path)
        return
    try:
        message.ParseFromString(data)
    except DecodeError as error:
        raise PayloadError(f"invalid protobuf: {error}") from None


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as plain JSON-ready Python (bytes as base64, as OTLP JSON does)."""
    kind = value.WhichOneof("value")
    if kind in _SCALARS:
        return getattr(value, kind)
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {pair.key: any_value(pair.value) for pair in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: any_value(pair.value) for pair in pairs}


def _span_problem(span: Any) -> str:
    if len(span.trace_id) != 16 or span.trace_id == _ZERO_TRACE:
        return f"trace_id must be 16 non-zero bytes, got {len(span.trace_id)} bytes"
    if len(span.span_id) != 8 or span.span_id == _ZERO_SPAN:
        return f"span_id must be 8 non-zero bytes, got {len(span.span_id)} bytes"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"parent_span_id must be 8 bytes, got {len(span.parent_span_id)} bytes"
    return "end_time_unix_nano is before start_time_unix_nano"


def decode_traces(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DecodedBatch[Span]:
    """The spans of an ``ExportTraceServiceRequest``; a bad body raises :class:`PayloadError`."""
    kind = media_type(content_type)
    request = ExportTraceServiceRequest()
    path = ("resourceSpans", "scopeSpans", "spans")
    _parse(_payload(body, content_encoding, max_bytes), kind, request, path)
    batch: DecodedBatch[Span] = DecodedBatch()
    for r, resource_spans in enumerate(request.resource_spans):
        resource = _attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name") or UNKNOWN_SERVICE)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope.name
            append = batch.records.append
            for i, span in enumerate(scope_spans.spans):
                decoded = _span(span, service, resource, scope)
                if decoded is None:
                    where = f"resource_spans[{r}].scope_spans[{s}].spans[{i}]"
                    batch.reject(where, _span_problem(span))
                    continue
                append(decoded)
    return batch


def _span(span: Any, service: str, resource: dict[str, Any], scope: str) -> Span | None:
    """The flat span, or None when it is invalid. Runs once per received span: kept lean."""
    trace_id = span.trace_id
    span_id = span.span_id
    parent = span.parent_span_id
    start = span.start_time_unix_nano
    end = span.end_time_unix_nano
    if (
        len(trace_id) != 16
        or trace_id == _ZERO_TRACE
        or len(span_id) != 8
        or span_id == _ZERO_SPAN
        or (parent and len(parent) != 8)
        or end < start
    ):
        return None
    kind = span.kind
    status = span.status
    code = status.code
    return Span(
        trace_id.hex(),
        span_id.hex(),
        parent.hex() if parent else None,
        span.name,
        _KINDS[kind] if 0 <= kind < len(_KINDS) else "UNSPECIFIED",
        service,
        start,
        end,
        _STATUS[code] if 0 <= code < len(_STATUS) else "UNSET",
        status.message,
        {pair.key: any_value(pair.value) for pair in span.attributes},
        [
            {
                "name": event.name,
                "time_ns": event.time_unix_nano,
                "attributes": _attributes(event.attributes),
            }
            for event in span.events
        ]
        if span.events
        else [],
        [
            {
                "trace_id": link.trace_id.hex(),
                "span_id": link.span_id.hex(),
                "attributes": _attributes(link.attributes),
            }
            for link in span.links
        ]
        if span.links
        else [],
        resource,
        scope,
    )


def _severity_name(number: int) -> str:
    for name, (low, high) in SEVERITY_RANGES.items():
        if low <= number <= high:
            return name
    return ""


def decode_logs(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    now_ns: Callable[[], int] | None = None,
) -> DecodedBatch[LogRecord]:
    """The records of an ``ExportLogsServiceRequest``; raises :class:`PayloadError` when it is bad.

    A record without a time takes its observed time, else ``now_ns()`` (the receive time).
    """
    kind = media_type(content_type)
    request = ExportLogsServiceRequest()
    path = ("resourceLogs", "scopeLogs", "logRecords")
    _parse(_payload(body, content_encoding, max_bytes), kind, request, path)
    batch: DecodedBatch[LogRecord] = DecodedBatch()
    for r, resource_logs in enumerate(request.resource_logs):
        resource = _attributes(resource_logs.resource.attributes)
        service = str(resource.get("service.name") or UNKNOWN_SERVICE)
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            scope = scope_logs.scope.name
            for i, record in enumerate(scope_logs.log_records):
                where = f"resource_logs[{r}].scope_logs[{s}].log_records[{i}]"
                if record.trace_id and len(record.trace_id) != 16:
                    batch.reject(where, f"trace_id must be 16 bytes, got {len(record.trace_id)}")
                    continue
                if record.span_id and len(record.span_id) != 8:
                    batch.reject(where, f"span_id must be 8 bytes, got {len(record.span_id)}")
                    continue
                batch.records.append(_log(record, service, resource, scope, now_ns))
    return batch


def _log(
    record: Any,
    service: str,
    resource: dict[str, Any],
    scope: str,
    now_ns: Callable[[], int] | None,
) -> LogRecord:
    body = any_value(record.body)
    text = body if isinstance(body, str) else ("" if body is None else json.dumps(body))
    attributes = _attributes(record.attributes)
    number = record.severity_number
    level = record.severity_text.strip().upper() or _severity_name(number)
    if not number and level:
        found = level_range(level)
        number = found[0] if found else 0
    time_ns = record.time_unix_nano or record.observed_time_unix_nano
    if not time_ns and now_ns is not None:
        time_ns = now_ns()
    request_id = attributes.get("vigie.request_id", attributes.get("request_id"))
    trace_id = record.trace_id.hex() if record.trace_id and any(record.trace_id) else None
    span_id = record.span_id.hex() if record.span_id and any(record.span_id) else None
    return LogRecord(
        time_ns=time_ns,
        body=text,
        service=service,
        level=level,
        severity_number=number,
        trace_id=trace_id,
        span_id=span_id,
        request_id=None if request_id is None else str(request_id),
        attributes=attributes,
        resource=resource,
        scope=scope,
    )


def _status_bytes(code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` protobuf (code = field 1, message = field 2), without its package."""
    raw = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(raw)) + raw


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def error_response(
    status: int, message: str, content_type: str | None, *, retry_after: int | None = None
) -> OtlpResponse:
    """A failure reply with a ``google.rpc.Status`` body, encoded like the request (JSON or not)."""
    code = _RPC_CODES.get(status, 2)
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == JSON:
        body = json.dumps({"code": code, "message": message}).encode()
        headers = {"Content-Type": JSON}
    else:
        body, headers = _status_bytes(code, message), {"Content-Type": PROTOBUF}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return OtlpResponse(status, headers, body)


def success_response(
    signal: str, batch: DecodedBatch[Any], content_type: str | None
) -> OtlpResponse:
    """The 200 reply for ``signal`` (``"traces"``, ``"logs"``), with ``partial_success``."""
    response: Message
    if signal == "traces":
        response = ExportTraceServiceResponse()
        if batch.rejected:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(
                    rejected_spans=batch.rejected, error_message=batch.error_message
                )
            )
    else:
        response = ExportLogsServiceResponse()
        if batch.rejected:
            response.partial_success.CopyFrom(
                ExportLogsPartialSuccess(
                    rejected_log_records=batch.rejected, error_message=batch.error_message
                )
            )
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == JSON:
        body = json.dumps(json_format.MessageToDict(response)).encode()
        return OtlpResponse(200, {"Content-Type": JSON}, body)
    return OtlpResponse(200, {"Content-Type": PROTOBUF}, response.SerializeToString())
