"""TelemetryService: back-pressure replies, retention with a clock, tailing, restart."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx

from vigie.telemetry import LogQuery, SpanQuery, TelemetryService

PROTO = {"Content-Type": "application/x-protobuf"}
S = 1_000_000_000


def test_full_queue_answers_429_with_retry_after_and_keeps_stored_data(
    tmp_path: Path, otlp: Any
) -> None:
    """A request that does not fit the queue gets 429 + Retry-After; earlier spans stay."""
    service = TelemetryService(tmp_path, queue_size=3)
    small = otlp.traces("api", [otlp.span("11" * 16, f"{i:016x}", "op", 1, 2) for i in (1, 2)])
    big = otlp.traces("api", [otlp.span("22" * 16, f"{i:016x}", "op", 1, 2) for i in range(1, 5)])
    assert service.ingest_traces(small.SerializeToString(), PROTO["Content-Type"])[0] == 200
    status, headers, body = service.ingest_traces(big.SerializeToString(), PROTO["Content-Type"])
    assert (status, headers["Retry-After"]) == (429, "1")
    assert b"ingest queue full" in body
    service.flush()
    assert [s.trace_id for s in service.search_spans(SpanQuery())] == ["11" * 16] * 2
    service.close()
    assert service.ingest_logs(b"", PROTO["Content-Type"])[0] == 503


def test_failing_storage_answers_503(tmp_path: Path, otlp: Any) -> None:
    """A request is acknowledged only once committed; a failing disk gets 503 and a retry hint."""
    service = TelemetryService(tmp_path)
    service.spans.database.close()  # every write now fails
    body = otlp.traces("api", [otlp.span("11" * 16, "01" * 8, "op", 1, 2)]).SerializeToString()
    status, headers, reply = service.ingest_traces(body, PROTO["Content-Type"])
    assert (status, headers["Retry-After"]) == (503, "1")
    assert b"not stored" in reply
    status, headers, reply = service.ingest_traces(body, PROTO["Content-Type"])
    assert (status, headers["Retry-After"]) == (503, "30")
    assert b"storage is failing" in reply
    service.span_queue.failed_at -= 31  # after the pause, one request probes the disk again
    status, _, reply = service.ingest_traces(body, PROTO["Content-Type"])
    assert status == 503
    assert b"not stored" in reply
    assert service.span_queue.failed == 2
    service.close()


def test_retention_uses_the_clock_for_spans_and_logs(tmp_path: Path, otlp: Any) -> None:
    """apply_retention deletes what is older than retention_age by the service clock."""
    now = [2000.0]
    service = TelemetryService(tmp_path, retention_age=600, clock=lambda: now[0])
    spans = [
        otlp.span("11" * 16, "01" * 8, "old", 1000 * S, 1001 * S),
        otlp.span("22" * 16, "02" * 8, "new", 1900 * S, 1901 * S),
    ]
    service.ingest_traces(otlp.traces("api", spans).SerializeToString(), PROTO["Content-Type"])
    records = [otlp.LogRecord(time_unix_nano=t * S, severity_text="INFO") for t in (1000, 1950)]
    service.ingest_logs(otlp.logs("api", records).SerializeToString(), PROTO["Content-Type"])
    service.flush()
    assert service.apply_retention() == (1, 1)
    assert [s.name for s in service.search_spans(SpanQuery())] == ["new"]
    assert [line.record.time_ns for line in service.search_logs(LogQuery())] == [1950 * S]
    service.close()


def test_tailed_files_reach_the_log_store_and_survive_restart(tmp_path: Path) -> None:
    """Lines of a tailed file are searchable; after restart only new lines are added."""
    log = tmp_path / "app.log"
    log.write_text(json.dumps({"level": "ERROR", "message": "payment refused"}) + "\n")
    options: dict[str, Any] = {"tail_paths": [str(tmp_path / "*.log")], "tail_service": "shop"}
    service = TelemetryService(tmp_path / "data", tail_interval=3600, **options)
    service.flush()
    assert [
        (line.record.body, line.record.service) for line in service.search_logs(LogQuery())
    ] == [("payment refused", "shop")]
    service.close()
    with open(log, "a") as out:
        out.write("plain line\n")
    service = TelemetryService(tmp_path / "data", tail_interval=3600, **options)
    service.flush()
    assert [line.record.body for line in service.search_logs(LogQuery())] == [
        "plain line",
        "payment refused",
    ]
    service.close()


def test_concurrent_requests_over_http_are_all_stored(served: Any, otlp: Any) -> None:
    """Eight clients posting at once: every span lands once."""

    def post(worker: int) -> None:
        spans = [otlp.span(f"{worker + 1:032x}", f"{i + 1:016x}", "op", 1, 2) for i in range(50)]
        body = otlp.traces("api", spans).SerializeToString()
        assert httpx.post(f"{served.url}/v1/traces", content=body, headers=PROTO).status_code == 200

    threads = [threading.Thread(target=post, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    served.service.flush()
    assert served.service.spans.count() == 400
    assert len(served.service.search_traces(SpanQuery(limit=100))) == 8
