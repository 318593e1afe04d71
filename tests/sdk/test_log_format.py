"""Log line formats: JSON fields, ids of the calling context, redaction, console output."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterator

import pytest

import vigie
from support.otlp_receiver import reset_opentelemetry
from vigie.sdk import tracing
from vigie.sdk.log_format import ConsoleFormatter, JsonFormatter, stamp, utc_timestamp
from vigie.sdk.redaction import Redactor
from vigie.sdk.request_context import bind_request_id, reset_request_id


def make_record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    record = logging.getLogger("app.orders").makeRecord(
        "app.orders", logging.WARNING, __file__, 10, message, args, None, extra=extra or None
    )
    record.created = 1763745628.123456
    record.msecs = 123.456
    return record


@pytest.fixture
def traced() -> Iterator[None]:
    """Tracing installed (no export) for the duration of one test."""
    tracing.install(service_name="svc", endpoint=None)
    yield
    tracing.uninstall()
    reset_opentelemetry()


def test_json_line_fields_in_order() -> None:
    """A JSON line has the documented keys, in order, with a UTC millisecond timestamp."""
    line = JsonFormatter(service="faq-bot", environment="prod").format(make_record("hi %s", "you"))
    data = json.loads(line)
    assert list(data) == [
        "timestamp", "level", "logger", "service", "environment", "message",
        "trace_id", "span_id", "request_id",
    ]  # fmt: skip
    assert data == {
        "timestamp": "2025-11-21T17:20:28.123Z",
        "level": "WARNING",
        "logger": "app.orders",
        "service": "faq-bot",
        "environment": "prod",
        "message": "hi you",
        "trace_id": None,
        "span_id": None,
        "request_id": None,
    }
    assert "\n" not in line


def test_timestamp_is_utc() -> None:
    """Timestamps are ISO-8601 in UTC with a Z suffix, whatever the local time zone."""
    assert utc_timestamp(0.5) == "1970-01-01T00:00:00.500Z"
    assert utc_timestamp(1763745628.999) == "2025-11-21T17:20:28.999Z"


def test_extra_fields_are_redacted_and_kept() -> None:
    """Extra fields follow the fixed keys, redacted by name and value; clashes are prefixed."""
    record = make_record(
        "paid by %s", "bob@example.com", order=1234, api_key="abc", customer={"phone": "0612345678"}
    )
    record.__dict__["service"] = "spoofed"
    data = json.loads(JsonFormatter(service="svc").format(record))
    assert data["message"] == "paid by [REDACTED:email]"
    assert data["order"] == 1234
    assert data["api_key"] == "[REDACTED:secret]"
    assert data["customer"] == {"phone": "[REDACTED:phone]"}
    assert data["service"] == "svc"
    assert data["extra.service"] == "spoofed"


def test_exception_text_is_redacted() -> None:
    """The traceback is included, with secrets in the exception message masked."""
    try:
        raise ValueError("bad password=hunter2")
    except ValueError:
        record = make_record("failed")
        record.exc_info = sys.exc_info()
    data = json.loads(JsonFormatter().format(record))
    assert data["exception"].startswith("Traceback (most recent call last):")
    assert data["exception"].endswith("ValueError: bad password=[REDACTED:secret]")
    assert "hunter2" not in json.dumps(data)


def test_redaction_can_be_turned_off() -> None:
    """With a disabled redactor the message is written as is."""
    formatter = JsonFormatter(redactor=Redactor(enabled=False))
    assert (
        json.loads(formatter.format(make_record("to a@b.example")))["message"] == "to a@b.example"
    )


def test_request_id_and_trace_ids(traced: None) -> None:
    """Lines logged in a span and a request carry its trace, span and request ids."""
    token = bind_request_id("req-42")
    try:
        with vigie.span("work"):
            ids = tracing.current_trace_ids()
            line = JsonFormatter().format(make_record("inside"))
    finally:
        reset_request_id(token)
    assert ids is not None
    data = json.loads(line)
    assert (data["trace_id"], data["span_id"], data["request_id"]) == (*ids, "req-42")
    assert re.fullmatch(r"[0-9a-f]{32}", data["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{16}", data["span_id"])


def test_ids_are_frozen_in_the_calling_thread(traced: None) -> None:
    """stamp() captures the ids where the record is made; another thread formats them unchanged."""
    token = bind_request_id("req-7")
    with vigie.span("work"):
        record = make_record("queued")
        stamp(record)
        ids = tracing.current_trace_ids()
    reset_request_id(token)
    lines: list[str] = []
    worker = threading.Thread(target=lambda: lines.append(JsonFormatter().format(record)))
    worker.start()
    worker.join()
    data = json.loads(lines[0])
    assert ids is not None
    assert (data["trace_id"], data["span_id"], data["request_id"]) == (*ids, "req-7")


def test_console_line() -> None:
    """The console format is one readable line with fields and ids, redacted."""
    token = bind_request_id("req-9")
    try:
        line = ConsoleFormatter().format(
            make_record("user %s logged in", "a@b.example", plan="pro")
        )
    finally:
        reset_request_id(token)
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d\.123 WARNING app\.orders  user \[REDACTED:email\] logged in  "
        r"plan=pro request=req-9",
        line,
    )
    colored = ConsoleFormatter(colors=True).format(make_record("x"))
    assert "\x1b[33mWARNING\x1b[0m" in colored
