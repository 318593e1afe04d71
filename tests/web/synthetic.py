"""Synthetic data for the UI tests: an hour of AI-service series, traces, logs, quality samples.

The example app gives real HTTP metrics by being scraped; the series it does not have (LLM
cost, tokens, retrieval, confidence, feedback) are sent by remote write, one sample every 15 s
over the last hour, so every overview panel has data. Values are deterministic.
"""

from __future__ import annotations

import math
import time
from typing import Any

import cramjam
import httpx

from vigie.server.remote_write import WriteRequest

STEP_S = 15
POINTS = 240  # one hour
SERVICE = "faq-bot"
TRACE_ERROR = "5b8efff798038103d269b633813fc60c"
TRACE_OK = "0af7651916cd43dd8448eb211c80319c"
MODELS = ("gpt-4o-mini", "mistral-small")

Series = tuple[dict[str, str], list[tuple[int, float]]]


def _counter(labels: dict[str, str], per_second: float, now_ms: int, job: str = SERVICE) -> Series:
    start = now_ms - POINTS * STEP_S * 1000
    samples = []
    total = 0.0
    for i in range(POINTS + 1):
        wave = 1 + 0.3 * math.sin(i / 20)
        total += per_second * STEP_S * wave
        samples.append((start + i * STEP_S * 1000, round(total, 6)))
    return {"job": job, "instance": "synthetic:1", **labels}, samples


def _gauge(
    labels: dict[str, str], value: float, now_ms: int, job: str = SERVICE, wave: float = 0.05
) -> Series:
    start = now_ms - POINTS * STEP_S * 1000
    samples = [
        (start + i * STEP_S * 1000, round(value * (1 + wave * math.sin(i / 10)), 6))
        for i in range(POINTS + 1)
    ]
    return {"job": job, "instance": "synthetic:1", **labels}, samples


def _histogram(
    name: str,
    labels: dict[str, str],
    bounds: tuple[float, ...],
    shares: tuple[float, ...],
    per_second: float,
    now_ms: int,
    job: str = SERVICE,
) -> list[Series]:
    series = []
    cumulative = 0.0
    for bound, share in zip((*bounds, math.inf), shares, strict=True):
        cumulative += share
        le = "+Inf" if bound == math.inf else repr(bound)
        series.append(
            _counter(
                {"__name__": f"{name}_bucket", **labels, "le": le},
                per_second * cumulative,
                now_ms,
                job,
            )
        )
    series.append(_counter({"__name__": f"{name}_count", **labels}, per_second, now_ms, job))
    return series


def ai_series(now_ms: int) -> list[Series]:
    """LLM, retrieval, confidence and feedback series of the last hour."""
    series: list[Series] = []
    for index, model in enumerate(MODELS):
        scale = 1.0 if index == 0 else 0.4
        for currency, price in (("EUR", 0.0020), ("USD", 0.0022)):
            series.append(
                _counter(
                    {
                        "__name__": "gen_ai_client_cost_total",
                        "currency": currency,
                        "gen_ai_request_model": model,
                    },
                    price * scale,
                    now_ms,
                )
            )
        for kind, rate in (("input", 40.0), ("output", 12.0)):
            series.append(
                _counter(
                    {
                        "__name__": "gen_ai_client_tokens_total",
                        "gen_ai_token_type": kind,
                        "gen_ai_request_model": model,
                    },
                    rate * scale,
                    now_ms,
                )
            )
        shares = (0.2, 0.5, 0.2, 0.08, 0.02) if index == 0 else (0.05, 0.35, 0.4, 0.15, 0.05)
        model_labels = {"gen_ai_request_model": model}
        series += _histogram(
            "gen_ai_client_operation_duration_seconds",
            model_labels,
            (0.5, 1.0, 2.0, 5.0),
            shares,
            0.5 * scale,
            now_ms,
        )
        series += _histogram(
            "gen_ai_client_operation_time_to_first_chunk_seconds",
            model_labels,
            (0.1, 0.25, 0.5, 1.0),
            shares,
            0.3 * scale,
            now_ms,
        )
    series.append(
        _counter(
            {"__name__": "gen_ai_client_requests_total", "outcome": "success", "error_type": ""},
            1.0,
            now_ms,
        )
    )
    for error, rate in (("timeout", 0.02), ("rate_limit", 0.01)):
        series.append(
            _counter(
                {
                    "__name__": "gen_ai_client_requests_total",
                    "outcome": "error",
                    "error_type": error,
                },
                rate,
                now_ms,
            )
        )
    series += _histogram(
        "retrieval_search_duration_seconds",
        {"retriever": "faiss"},
        (0.005, 0.01, 0.05, 0.1),
        (0.5, 0.3, 0.15, 0.04, 0.01),
        1.0,
        now_ms,
    )
    series.append(
        _counter({"__name__": "retrieval_searches_total", "retriever": "faiss"}, 1.0, now_ms)
    )
    series.append(
        _counter({"__name__": "retrieval_empty_results_total", "retriever": "faiss"}, 0.08, now_ms)
    )
    series += _histogram(
        "ml_prediction_confidence",
        {"model": "intent"},
        (0.2, 0.4, 0.6, 0.8),
        (0.05, 0.1, 0.2, 0.35, 0.3),
        1.0,
        now_ms,
    )
    series.append(_counter({"__name__": "ml_predictions_total", "model": "intent"}, 1.0, now_ms))
    series.append(
        _counter(
            {"__name__": "ml_low_confidence_predictions_total", "model": "intent"}, 0.15, now_ms
        )
    )
    for rating, rate in (("up", 0.3), ("down", 0.1)):
        series.append(_counter({"__name__": "user_feedback_total", "rating": rating}, rate, now_ms))
    return series


GIB = 1 << 30
#: What the infrastructure dashboard's PostgreSQL row shows: 17 of 100 connections in use.
PG_LABELS = {"datid": "16384", "datname": "app", "server": "main"}


def host_series(now_ms: int) -> list[Series]:
    """node_exporter-named series as vigie's host collector exposes them (job ``vigie``)."""
    series: list[Series] = []
    for cpu in ("0", "1"):
        for mode, rate in (("idle", 0.6), ("user", 0.3), ("system", 0.1)):
            labels = {"__name__": "node_cpu_seconds_total", "cpu": cpu, "mode": mode}
            series.append(_counter(labels, rate, now_ms, "vigie"))
    series.append(_gauge({"__name__": "node_memory_MemTotal_bytes"}, 8 * GIB, now_ms, "vigie"))
    series.append(_gauge({"__name__": "node_memory_MemAvailable_bytes"}, 3 * GIB, now_ms, "vigie"))
    disk = {"device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/"}
    series.append(
        _gauge({"__name__": "node_filesystem_size_bytes", **disk}, 100 * GIB, now_ms, "vigie")
    )
    series.append(
        _gauge({"__name__": "node_filesystem_avail_bytes", **disk}, 40 * GIB, now_ms, "vigie")
    )
    for direction, rate in (("receive", 0.02), ("transmit", 0.01)):
        labels = {"__name__": f"node_network_{direction}_errs_total", "device": "eth0"}
        series.append(_counter(labels, rate, now_ms, "vigie"))
    for name, value in (
        ("node_load1", 1.2),
        ("node_memory_SwapTotal_bytes", 2 * GIB),
        ("node_memory_SwapFree_bytes", 1.5 * GIB),
        ("node_filefd_allocated", 3_000),
        ("node_filefd_maximum", 100_000),
    ):
        series.append(_gauge({"__name__": name}, value, now_ms, "vigie"))  # fmt: skip
    return series


def apps_series(now_ms: int) -> list[Series]:
    """The app's process memory and authentication failures (HTTP 401 and the SDK's counter)."""
    series: list[Series] = [
        _gauge({"__name__": "process_resident_memory_bytes"}, 300 * (1 << 20), now_ms),
        _counter({"__name__": "vigie_auth_failures_total", "reason": "bad_password"}, 0.2, now_ms),
    ]
    labels = {"__name__": "http_server_request_duration_seconds_count", "http_route": "/login",
              "http_request_method": "POST", "http_response_status_code": "401"}  # fmt: skip
    series.append(_counter(labels, 0.2, now_ms, "example"))  # the scraped example app's job
    return series


def vigie_series(now_ms: int) -> list[Series]:
    """vigie's own self-monitoring series, as its /metrics exposes them (job ``vigie``)."""
    series = _histogram(
        "vigie_scrape_duration_seconds", {"scrape_job": "faq"}, (0.01, 0.1, 1.0),
        (0.7, 0.25, 0.04, 0.01), 1.0, now_ms, "vigie",
    )  # fmt: skip
    failures = {"__name__": "vigie_rule_evaluation_failures_total", "rule_group": "ai.yml;slo"}
    series.append(_counter(failures, 0.01, now_ms, "vigie"))
    for state, value in (("pending", 2), ("failed", 0)):
        labels = {"__name__": "vigie_notification_queue_length", "state": state}
        series.append(_gauge(labels, value, now_ms, "vigie", wave=0))
    refused = {"__name__": "vigie_otlp_records_refused_total", "signal": "traces"}
    series.append(_counter(refused, 0.5, now_ms, "vigie"))
    return series


def postgres_series(now_ms: int) -> list[Series]:
    """postgres_exporter-named series as vigie's PostgreSQL collector exposes them."""
    series: list[Series] = [
        _gauge({"__name__": "pg_up", "server": "main"}, 1, now_ms, "vigie", wave=0),
        _gauge({"__name__": "pg_settings_max_connections", "server": "main"}, 100, now_ms, "vigie"),
        _gauge(
            {"__name__": "pg_database_size_bytes", "datname": "app", "server": "main"},
            2 * GIB,
            now_ms,
            "vigie",
        ),
    ]
    for state, count in (("active", 5), ("idle", 12)):
        labels = {"__name__": "pg_stat_activity_count", "datname": "app", "state": state}
        series.append(_gauge({**labels, "server": "main"}, count, now_ms, "vigie"))
    for column, rate in (("xact_commit", 50.0), ("xact_rollback", 0.5), ("blks_hit", 950.0),
                         ("blks_read", 50.0), ("deadlocks", 0.002)):  # fmt: skip
        labels = {"__name__": f"pg_stat_database_{column}", **PG_LABELS}
        series.append(_counter(labels, rate, now_ms, "vigie"))
    return series


def pool_series(now_ms: int) -> list[Series]:
    """The app's SQLAlchemy pool, as vigie.instrument_sqlalchemy(engine, name="app") records it."""
    series: list[Series] = []
    for state, count in (("used", 6), ("idle", 4)):
        labels = {"__name__": "db_client_connections_usage", "pool_name": "app", "state": state}
        series.append(_gauge(labels, count, now_ms))
    series.append(_gauge({"__name__": "db_client_connections_max", "pool_name": "app"}, 15, now_ms))
    timeouts = {"__name__": "db_client_connections_timeouts_total", "pool_name": "app"}
    series.append(_counter(timeouts, 0.01, now_ms))
    for operation in ("SELECT", "INSERT"):
        labels = {"db_system_name": "postgresql", "pool_name": "app",
                  "db_operation_name": operation, "error_type": ""}  # fmt: skip
        shares = (0.4, 0.3, 0.2, 0.08, 0.02)
        series += _histogram(
            "db_client_operation_duration_seconds", labels, (0.005, 0.01, 0.05, 0.1), shares, 5.0,
            now_ms,
        )  # fmt: skip
    return series


def redis_series(now_ms: int) -> list[Series]:
    """The app's Redis client, as vigie.instrument_redis(client, name="cache") records it."""
    series: list[Series] = []
    for command, error, rate in (("GET", "", 3.0), ("SET", "", 1.0), ("GET", "TimeoutError", 0.02)):
        labels = {"db_system_name": "redis", "pool_name": "cache",
                  "db_operation_name": command, "error_type": error}  # fmt: skip
        shares = (0.6, 0.3, 0.07, 0.02, 0.01)
        series += _histogram(
            "db_client_operation_duration_seconds", labels, (0.001, 0.005, 0.01, 0.05), shares,
            rate, now_ms,
        )  # fmt: skip
    return series


def remote_write(url: str, series: list[Series]) -> None:
    """Send ``series`` to ``url``/api/v1/write (Prometheus remote write 1.0, snappy)."""
    request = WriteRequest()
    for labels, samples in series:
        item = request.timeseries.add()
        for name in sorted(labels):
            item.labels.add(name=name, value=labels[name])
        for timestamp, value in samples:
            item.samples.add(timestamp=timestamp, value=value)
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    response = httpx.post(
        url + "/api/v1/write", content=body, headers={"Content-Encoding": "snappy"}, timeout=30
    )
    response.raise_for_status()


def _attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": {"stringValue": str(v)}} for k, v in values.items()]


def telemetry(url: str, now_ns: int) -> None:
    """Two traces (one failed) of the faq-bot and their log lines, by OTLP/HTTP JSON."""
    base = now_ns - 120 * 10**9

    def span(
        trace: str, span_id: str, name: str, start_ms: int, ms: int, **extra: Any
    ) -> dict[str, Any]:
        return {
            "traceId": trace,
            "spanId": span_id,
            "name": name,
            "kind": extra.pop("kind", 2),
            "startTimeUnixNano": str(base + start_ms * 10**6),
            "endTimeUnixNano": str(base + (start_ms + ms) * 10**6),
            **extra,
        }

    spans = [
        span(
            TRACE_ERROR,
            "eee19b7ec3c1b174",
            "POST /ask",
            0,
            1450,
            attributes=_attrs({"http.route": "/ask", "http.response.status_code": 503}),
            status={"code": 2, "message": "LLM timeout"},
        ),
        span(
            TRACE_ERROR,
            "eee19b7ec3c1b175",
            "retrieval faiss",
            10,
            40,
            kind=1,
            parentSpanId="eee19b7ec3c1b174",
            attributes=_attrs({"retrieval.top_k": 5}),
        ),
        span(
            TRACE_ERROR,
            "eee19b7ec3c1b176",
            "chat gpt-4o-mini",
            60,
            1380,
            kind=3,
            parentSpanId="eee19b7ec3c1b174",
            attributes=_attrs({"gen_ai.request.model": "gpt-4o-mini", "gen_ai.system": "openai"}),
            status={"code": 2, "message": "timeout"},
        ),
        span(
            TRACE_OK,
            "aaa19b7ec3c1b174",
            "GET /faq",
            5000,
            35,
            attributes=_attrs({"http.route": "/faq"}),
        ),
    ]
    resource = {"attributes": _attrs({"service.name": SERVICE})}
    traces = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    records = [
        {
            "timeUnixNano": str(base + 70 * 10**6),
            "severityNumber": 9,
            "severityText": "INFO",
            "body": {"stringValue": "asking the LLM"},
            "traceId": TRACE_ERROR,
            "spanId": "eee19b7ec3c1b176",
        },
        {
            "timeUnixNano": str(base + 1440 * 10**6),
            "severityNumber": 17,
            "severityText": "ERROR",
            "body": {"stringValue": "LLM timeout after 1.4 s"},
            "traceId": TRACE_ERROR,
            "attributes": _attrs({"provider": "openai"}),
        },
        {
            "timeUnixNano": str(base + 5010 * 10**6),
            "severityNumber": 9,
            "severityText": "INFO",
            "body": {"stringValue": "faq listed"},
            "traceId": TRACE_OK,
        },
    ]
    logs = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}
    for path, body in (("/v1/traces", traces), ("/v1/logs", logs)):
        httpx.post(url + path, json=body, timeout=10).raise_for_status()


def quality_samples(url: str, now_s: float) -> None:
    """A reference window two hours ago and a shifted current window, model ``intent``."""
    samples = []
    for i in range(300):
        for when, shift in ((now_s - 7200 + i, 0.0), (now_s - 600 + i, 0.25)):
            samples.append(
                {
                    "model": "intent",
                    "time": when,
                    "numeric": {
                        "prediction.confidence": round(
                            0.55 + 0.4 * ((i * 37) % 100) / 100 - shift, 4
                        ),
                        "text.query.length": 20 + (i * 13) % 40 + shift * 80,
                    },
                    "categorical": {
                        "prediction.label": ("renew", "lost", "child")[(i + int(shift * 8)) % 3]
                    },
                    "feedback": "up" if (i + int(shift * 4)) % 4 else "down",
                }
            )
    response = httpx.post(
        url + "/api/v1/quality/samples", json={"version": 1, "samples": samples}, timeout=30
    )
    response.raise_for_status()


def send_log(url: str, body: str) -> None:
    """One WARN line of the faq-bot, now."""
    record = {
        "timeUnixNano": str(time.time_ns()),
        "severityNumber": 13,
        "severityText": "WARN",
        "body": {"stringValue": body},
    }
    payload = {
        "resourceLogs": [
            {
                "resource": {"attributes": _attrs({"service.name": SERVICE})},
                "scopeLogs": [{"logRecords": [record]}],
            }
        ]
    }
    httpx.post(url + "/v1/logs", json=payload, timeout=10).raise_for_status()
