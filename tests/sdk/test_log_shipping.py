"""Log shipping: the queue never blocks the app, files rotate by size and time, OTLP export."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

import vigie
from support.otlp_receiver import OtlpReceiver, reset_opentelemetry
from vigie.exceptions import ConfigurationError
from vigie.sdk import tracing
from vigie.sdk.log_format import JsonFormatter
from vigie.sdk.log_shipping import (
    DroppingQueueHandler,
    LogListener,
    OtlpLogHandler,
    RotatingFile,
    parse_rotation,
)
from vigie.sdk.request_context import bind_request_id, reset_request_id


class BlockedSink(logging.Handler):
    """A sink that waits for ``release`` before each record: a disk or collector that hangs."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.release.wait(timeout=30)
        self.records.append(record)


class ListSink(logging.Handler):
    """Keep formatted lines."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A private logger that does not propagate to the root."""
    log = logging.getLogger(f"test.shipping.{time.monotonic_ns()}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log
    log.handlers.clear()


def test_slow_sink_never_blocks_logging(
    logger: logging.Logger, registry: CollectorRegistry
) -> None:
    """With the sink stuck, log calls return at once; overflow is dropped and counted."""
    handler = DroppingQueueHandler(queue_size=10, registry=registry)
    sink = BlockedSink()
    listener = LogListener(handler.queue, [sink])
    logger.addHandler(handler)
    listener.start()
    done = threading.Event()

    def burst() -> None:
        for index in range(200):
            logger.info("record %d", index)
        done.set()

    writer = threading.Thread(target=burst)
    writer.start()
    finished = done.wait(timeout=10)
    sink.release.set()
    writer.join(timeout=10)
    listener.stop()
    assert finished, "logging blocked on a stuck sink"
    # At most the queue plus the one record the listener holds get through.
    assert len(sink.records) in (10, 11)
    assert handler.dropped == 200 - len(sink.records)
    assert registry.get_sample_value("vigie_log_records_dropped_total") == handler.dropped
    assert sink.records[0].getMessage() == "record 0"


def test_stop_flushes_what_is_queued(logger: logging.Logger, registry: CollectorRegistry) -> None:
    """Stopping the listener writes every queued record before returning."""
    handler = DroppingQueueHandler(queue_size=1000, registry=registry)
    sink = ListSink()
    sink.setFormatter(JsonFormatter(service="svc"))
    listener = LogListener(handler.queue, [sink])
    logger.addHandler(handler)
    listener.start()
    for index in range(300):
        logger.info("n=%d", index)
    listener.stop()
    assert [json.loads(line)["message"] for line in sink.lines] == [f"n={i}" for i in range(300)]
    assert handler.dropped == 0


def test_message_and_ids_frozen_when_logged(
    logger: logging.Logger, registry: CollectorRegistry
) -> None:
    """Arguments changed after the call and the request that ended do not change the line."""
    handler = DroppingQueueHandler(queue_size=10, registry=registry)
    sink = ListSink()
    sink.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    items = ["a"]
    token = bind_request_id("req-1")
    logger.info("items %s", items)
    reset_request_id(token)
    items.append("b")
    listener = LogListener(handler.queue, [sink])
    listener.start()
    listener.stop()
    data = json.loads(sink.lines[0])
    assert (data["message"], data["request_id"]) == ("items ['a']", "req-1")


def test_a_failing_sink_does_not_stop_the_others(
    logger: logging.Logger, registry: CollectorRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sink that raises is reported on stderr; the next sinks and records are still served."""

    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise OSError("disk gone")

    handler = DroppingQueueHandler(queue_size=10, registry=registry)
    sink = ListSink()
    listener = LogListener(handler.queue, [Broken(), sink])
    logger.addHandler(handler)
    listener.start()
    logger.warning("one")
    logger.warning("two")
    listener.stop()
    assert sink.lines == ["one", "two"]
    assert "OSError: disk gone" in capsys.readouterr().err


def _record(message: str) -> logging.LogRecord:
    return logging.makeLogRecord({"msg": message, "levelno": logging.INFO, "levelname": "INFO"})


def test_rotation_by_size_keeps_backup_count(tmp_path: Path) -> None:
    """Past max_bytes the file rotates; only backup_count old files remain, newest first."""
    path = tmp_path / "app.log"
    handler = RotatingFile(path, max_bytes=100, backup_count=2)
    for index in range(10):
        handler.emit(_record(f"line {index:02d} " + "x" * 40))
    handler.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.log", "app.log.1", "app.log.2"]
    assert path.read_text().splitlines()[-1].startswith("line 09")
    assert (tmp_path / "app.log.1").read_text().startswith("line 06")
    assert all(len(p.read_bytes()) <= 100 for p in tmp_path.iterdir())


def test_rotation_by_time(tmp_path: Path) -> None:
    """When the interval ends the file rotates, even below max_bytes; empty files do not."""
    now = [1_000_000.0]
    path = tmp_path / "app.log"
    handler = RotatingFile(path, when="1H", max_bytes=10_000, backup_count=3, clock=lambda: now[0])
    handler.emit(_record("first hour"))
    now[0] += 3599
    handler.emit(_record("still first hour"))
    now[0] += 2
    handler.emit(_record("second hour"))
    now[0] += 7200 * 3
    handler.emit(_record("later"))
    handler.close()
    assert (tmp_path / "app.log.2").read_text() == "first hour\nstill first hour\n"
    assert (tmp_path / "app.log.1").read_text() == "second hour\n"
    assert path.read_text() == "later\n"


def test_midnight_rotation_is_utc(tmp_path: Path) -> None:
    """midnight means the next UTC midnight."""
    handler = RotatingFile(tmp_path / "a.log", when="midnight", clock=lambda: 86400 * 3 + 5.0)
    assert handler.rollover_at == 86400 * 4
    handler.close()


def test_rotation_settings_are_checked(tmp_path: Path) -> None:
    """Bad rotation settings fail with the option's name."""
    assert parse_rotation("D") == 86400
    assert parse_rotation("30m") == 1800
    with pytest.raises(ConfigurationError, match=r"logs\.file_rotate_when"):
        parse_rotation("weekly")
    with pytest.raises(ConfigurationError, match=r"logs\.file_backup_count"):
        RotatingFile(tmp_path / "a.log", backup_count=0)
    with pytest.raises(ConfigurationError, match=r"logs\.queue_size"):
        DroppingQueueHandler(0, registry=CollectorRegistry())


def test_otlp_log_export(logger: logging.Logger) -> None:
    """Records reach a real OTLP/HTTP endpoint redacted, with severity, ids and attributes."""
    with OtlpReceiver() as receiver:
        tracing.install(service_name="svc", endpoint=None)
        handler = OtlpLogHandler(receiver.endpoint, service="svc", environment="test")
        logger.addHandler(handler)
        try:
            token = bind_request_id("req-5")
            with vigie.span("work"):
                ids = tracing.current_trace_ids()
                logger.error("card %s refused", "4111 1111 1111 1111", extra={"attempt": 2})
            reset_request_id(token)
            logger.info("outside")
            # The exporter's own complaints are not shipped (no feedback loop when it is down).
            handler.handle(
                logging.makeLogRecord(
                    {"name": "opentelemetry.exporter", "msg": "export failed", "levelno": 30}
                )
            )
            logs = receiver.wait_for_logs(2)
        finally:
            handler.stop()
            tracing.uninstall()
            reset_opentelemetry()
    assert ids is not None
    first, second = logs
    assert first["body"] == "card [REDACTED:card] refused"
    assert (first["severity_text"], first["severity_number"]) == ("ERROR", 17)
    assert (first["trace_id"], first["span_id"]) == ids
    assert first["attributes"]["attempt"] == 2
    assert first["attributes"]["vigie.request_id"] == "req-5"
    assert first["logger"] == logger.name
    assert first["resource"]["service.name"] == "svc"
    assert (second["body"], second["trace_id"], second["severity_number"]) == ("outside", None, 9)
    assert len(receiver.logs) == 2
