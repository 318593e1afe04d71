"""OTLP/HTTP decoding (protobuf, JSON, gzip) and the spec's replies, over a real HTTP server."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from vigie.exceptions import PayloadError
from vigie.telemetry.otlp_decoding import decode_logs, decode_traces, http_status
from vigie.telemetry.trace_search import SpanQuery

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"
PROTO = {"Content-Type": "application/x-protobuf"}


def _json_traces(**span: Any) -> bytes:
    base = {
        "traceId": TRACE,
        "spanId": SPAN,
        "name": "GET /items",
        "kind": 2,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000250000000",
        "attributes": [
            {"key": "http.route", "value": {"stringValue": "/items"}},
            {"key": "http.response.status_code", "value": {"intValue": "200"}},
            {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
        ],
        "status": {"code": 2, "message": "boom"},
        "events": [{"name": "exception", "timeUnixNano": "1700000000100000000"}],
    }
    base.update(span)
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]
                    },
                    "scopeSpans": [{"scope": {"name": "manual"}, "spans": [base]}],
                }
            ]
        }
    ).encode()


def test_json_traces_decode_with_hex_ids_enums_and_anyvalues() -> None:
    """OTLP JSON: hex ids, integer enums, int64 as strings, nested AnyValue."""
    batch = decode_traces(_json_traces(), "application/json; charset=utf-8")
    assert batch.rejected == 0
    [span] = batch.records
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE, SPAN, None)
    assert (span.kind, span.service, span.scope) == ("SERVER", "shop", "manual")
    assert (span.status_code, span.status_message) == ("ERROR", "boom")
    assert span.duration_ns == 250_000_000
    assert span.attributes == {
        "http.route": "/items",
        "http.response.status_code": 200,
        "tags": ["a"],
    }
    assert span.events == [{"name": "exception", "time_ns": 1700000000100000000, "attributes": {}}]


def test_protobuf_and_gzip_decode_to_the_same_span(otlp: Any) -> None:
    """A gzip-compressed protobuf body gives the same span as the plain one."""
    request = otlp.traces("shop", [otlp.span(TRACE, SPAN, "op", 10, 30, kind=3)])
    plain = decode_traces(request.SerializeToString(), "application/x-protobuf")
    zipped = decode_traces(
        gzip.compress(request.SerializeToString()), PROTO["Content-Type"], "gzip"
    )
    assert plain.records == zipped.records
    assert plain.records[0].kind == "CLIENT"


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "status", "fragment"),
    [
        (b"\xff\xff\xff", "application/x-protobuf", None, 400, "invalid protobuf"),
        (b'{"resourceSpans": [', "application/json", None, 400, "invalid JSON"),
        (b"[1, 2]", "application/json", None, 400, "must be an object"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            "application/json",
            None,
            400,
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: not hex digits",
        ),
        (b'{"resourceSpans": 3}', "application/json", None, 400, "invalid OTLP JSON"),
        (b"x", "text/plain", None, 415, "unsupported content type"),
        (b"x", "application/x-protobuf", "br", 415, "unsupported content encoding"),
        (b"not gzip", "application/x-protobuf", "gzip", 400, "does not decompress"),
    ],
)
def test_malformed_payloads_raise_errors_naming_the_problem(
    body: bytes, content_type: str, encoding: str | None, status: int, fragment: str
) -> None:
    """Each bad body raises a PayloadError whose message and HTTP status name the problem."""
    with pytest.raises(PayloadError) as caught:
        decode_traces(body, content_type, encoding)
    assert fragment in str(caught.value)
    assert http_status(caught.value) == status


def test_size_limit_applies_before_and_after_gzip() -> None:
    """413 for a big body, and for a small gzip body that inflates past the limit (a bomb)."""
    with pytest.raises(PayloadError) as big:
        decode_traces(b"\0" * 2000, "application/x-protobuf", max_bytes=1000)
    with pytest.raises(PayloadError) as bomb:
        decode_traces(
            gzip.compress(b"\0" * 100_000), "application/x-protobuf", "gzip", max_bytes=1000
        )
    assert http_status(big.value) == http_status(bomb.value) == 413
    assert "decompressed" in str(bomb.value)


def test_invalid_spans_are_rejected_one_by_one(otlp: Any) -> None:
    """Zero trace id, short span id, end before start: rejected and counted; the rest kept."""
    request = otlp.traces(
        "shop",
        [
            otlp.span(TRACE, SPAN, "good", 10, 20),
            otlp.span("00" * 16, SPAN, "zero-trace", 10, 20),
            otlp.span(TRACE, "abcd", "short-span", 10, 20),
            otlp.span(TRACE, "01" * 8, "backwards", 30, 20),
        ],
    )
    batch = decode_traces(request.SerializeToString(), "application/x-protobuf")
    assert [span.name for span in batch.records] == ["good"]
    assert batch.rejected == 3
    assert batch.error_message.startswith("3 rejected: resource_spans[0].scope_spans[0].spans[1]")
    assert "end_time_unix_nano is before start_time_unix_nano" in batch.error_message


def test_log_records_decode_with_severity_ids_and_request_id(otlp: Any) -> None:
    """Severity text or number, trace/span ids, body AnyValue and vigie.request_id are kept."""
    records = [
        otlp.LogRecord(
            time_unix_nano=5,
            severity_number=13,
            body=otlp.AnyValue(string_value="slow answer"),
            trace_id=bytes.fromhex(TRACE),
            span_id=bytes.fromhex(SPAN),
            attributes=[otlp.attribute("vigie.request_id", "req-1")],
        ),
        otlp.LogRecord(observed_time_unix_nano=7, severity_text="error"),
        otlp.LogRecord(trace_id=b"\1\2", body=otlp.AnyValue(string_value="bad id")),
    ]
    batch = decode_logs(otlp.logs("shop", records).SerializeToString(), "application/x-protobuf")
    first, second = batch.records
    assert (first.level, first.severity_number, first.body) == ("WARN", 13, "slow answer")
    assert (first.trace_id, first.span_id, first.request_id) == (TRACE, SPAN, "req-1")
    assert (second.time_ns, second.level, second.severity_number) == (7, "ERROR", 17)
    assert batch.rejected == 1
    assert "trace_id must be 16 bytes, got 2" in batch.error_message


def test_http_replies_follow_the_otlp_spec(served: Any, otlp: Any) -> None:
    """200 (+ partial success), 400 with a Status body, 415, 413: and nothing stored is affected."""
    good = otlp.traces("shop", [otlp.span(TRACE, SPAN, "kept", 10, 20)])
    assert (
        httpx.post(
            f"{served.url}/v1/traces", content=good.SerializeToString(), headers=PROTO
        ).status_code
        == 200
    )

    partial = otlp.traces(
        "shop",
        [otlp.span(TRACE, "02" * 8, "kept too", 10, 20), otlp.span("00" * 16, SPAN, "x", 1, 2)],
    )
    reply = httpx.post(
        f"{served.url}/v1/traces", content=partial.SerializeToString(), headers=PROTO
    )
    assert reply.status_code == 200
    answer = ExportTraceServiceResponse.FromString(reply.content)
    assert answer.partial_success.rejected_spans == 1
    assert "trace_id must be 16 non-zero bytes" in answer.partial_success.error_message

    json_partial = httpx.post(
        f"{served.url}/v1/traces",
        content=_json_traces(spanId=""),
        headers={"Content-Type": "application/json"},
    )
    assert json_partial.status_code == 200
    assert json_partial.json()["partialSuccess"]["rejectedSpans"] == "1"

    bad_json = httpx.post(
        f"{served.url}/v1/traces", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert bad_json.json()["code"] == 3
    assert bad_json.json()["message"].startswith("invalid JSON")

    bad_proto = httpx.post(f"{served.url}/v1/traces", content=b"\xff\xff", headers=PROTO)
    assert bad_proto.status_code == 400
    assert bad_proto.headers["content-type"] == "application/x-protobuf"
    assert b"invalid protobuf" in bad_proto.content  # google.rpc.Status.message

    wrong_type = httpx.post(
        f"{served.url}/v1/traces",
        content=good.SerializeToString(),
        headers={"Content-Type": "text/plain"},
    )
    assert wrong_type.status_code == 415
    served.service.max_body_bytes = 100
    big = otlp.traces("shop", [otlp.span(TRACE, "03" * 8, "x" * 500, 10, 20)])
    assert (
        httpx.post(
            f"{served.url}/v1/logs", content=big.SerializeToString(), headers=PROTO
        ).status_code
        == 413
    )

    assert served.service.flush()
    names = sorted(span.name for span in served.service.search_spans(SpanQuery(trace_id=TRACE)))
    assert names == ["kept", "kept too"]


def test_json_logs_decode_with_hex_ids_and_kvlist_body() -> None:
    """OTLP JSON logs: hex ids, severity, a structured body kept as JSON text."""
    body = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "shop.orders"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1700000000000000000",
                                "severityNumber": 17,
                                "traceId": TRACE,
                                "spanId": SPAN,
                                "body": {
                                    "kvlistValue": {
                                        "values": [{"key": "order", "value": {"intValue": "7"}}]
                                    }
                                },
                                "attributes": [
                                    {"key": "request_id", "value": {"stringValue": "req-9"}}
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    batch = decode_logs(json.dumps(body).encode(), "application/json")
    [record] = batch.records
    assert (record.level, record.severity_number, record.body) == ("ERROR", 17, '{"order": 7}')
    assert (record.trace_id, record.span_id, record.request_id) == (TRACE, SPAN, "req-9")
    assert (record.service, record.scope, record.time_ns) == (
        "shop",
        "shop.orders",
        1700000000000000000,
    )
