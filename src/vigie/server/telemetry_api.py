"""Search APIs for traces and logs: what the UI's Traces, Logs and Alerts pages ask.

Every answer uses Prometheus's envelope (``{"status": "success", "data": ...}``, errors as
``{"status": "error", "errorType": "bad_data", "error": ...}`` with status 400), so the same
client code reads it as ``/api/v1/query``. The service calls hit SQLite and are synchronous: they
run in a worker thread, never on the event loop.

* ``GET /api/v1/traces/search`` — traces (``view=traces``, default) or spans (``view=spans``)
  matching ``service``, ``name``, ``status``, ``kind``, ``min_duration`` / ``max_duration``
  (``250ms``, ``2s`` or float seconds), ``attr=key=value`` (repeatable), ``start`` / ``end`` (Unix
  seconds or RFC 3339), ``limit`` (1..1000, default 100); newest first.
* ``GET /api/v1/traces/red`` — per-operation rate, errors and duration percentiles (``start``,
  ``end``, ``service``, ``kind``; default window: the last hour).
* ``GET /api/v1/traces/{trace_id}`` — the waterfall (``Trace.to_dict()``); 404 when unknown.
* ``GET /api/v1/logs/search`` — ``text`` (full text), ``level``, ``min_level``, ``service``,
  ``trace_id``, ``request_id``, ``field=key=value``, ``start``, ``end``, ``limit``; newest first.
* ``GET /api/v1/logs/tail`` — the same filters (no time range) as Server-Sent Events, resuming
  after ``Last-Event-ID`` (or ``after_id``).
* ``GET /api/v1/alerts/telemetry`` — traces and logs correlated with an alert: its labels as
  ``label=name=value`` (repeatable), ``start`` (when it became active), ``end`` (absent: now),
  ``min_level``, ``limit``.

Example::

    $ curl -s 'http://127.0.0.1:9800/api/v1/traces/search?service=faq-bot&status=ERROR&limit=5'
    {"status":"success","data":[{"trace_id":"5b8e...","root_name":"POST /ask",...}]}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from vigie.exceptions import TelemetryError
from vigie.server.config import parse_duration
from vigie.telemetry import LogQuery, SpanQuery, TelemetryService, sse_event

if TYPE_CHECKING:
    from vigie.server.runtime import Server

__all__ = ["MAX_LIMIT", "telemetry_routes"]

#: Largest ``limit`` a search accepts.
MAX_LIMIT = 1000
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}\Z")
_STATUSES = ("UNSET", "OK", "ERROR")
_KINDS = ("SERVER", "CLIENT", "INTERNAL", "PRODUCER", "CONSUMER")
_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "fatal")
_HOUR_NS = 3600 * 10**9
_KEEP_ALIVE_SECONDS = 15

Handler = Callable[[Request], Awaitable[Response]]


class _BadRequestError(Exception):
    """An answer other than 200, with Prometheus's ``errorType``."""

    def __init__(self, message: str, *, status: int = 400, kind: str = "bad_data") -> None:
        super().__init__(message)
        self.message, self.status, self.kind = message, status, kind


def _json(body: dict[str, Any], status: int = 200) -> Response:
    text = json.dumps(body, separators=(",", ":"), default=str)
    return Response(text, status_code=status, media_type="application/json")


def _one(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise _BadRequestError(f'invalid parameter "{name}": given {len(values)} times')
    value = values[0].strip() if values else ""
    return value or None


def _choice(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = _one(request, name)
    if value is None:
        return None
    if value.upper() in choices:
        return value.upper()
    if value.lower() in choices:
        return value.lower()
    raise _BadRequestError(
        f'invalid parameter "{name}": {value!r} is not one of {", ".join(choices)}'
    )


def _time_ns(request: Request, name: str) -> int | None:
    """Unix seconds (float) or RFC 3339, as Prometheus's ``start`` / ``end``."""
    text = _one(request, name)
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise _BadRequestError(
                f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp'
            ) from None
    if not math.isfinite(seconds):
        raise _BadRequestError(f'invalid parameter "{name}": {text!r} is not a finite time')
    return round(seconds * 1e9)


def _window(request: Request) -> tuple[int | None, int | None]:
    start, end = _time_ns(request, "start"), _time_ns(request, "end")
    if start is not None and end is not None and end < start:
        raise _BadRequestError('invalid parameter "end": end timestamp must not be before start')
    return start, end


def _duration_ns(request: Request, name: str) -> int | None:
    """``250ms``, ``1m30s`` (Prometheus durations) or float seconds."""
    text = _one(request, name)
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            return parse_duration(text) * 10**6
        except ValueError:
            raise _BadRequestError(
                f'invalid parameter "{name}": {text!r} is not a duration (e.g. 250ms, 2s)'
            ) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise _BadRequestError(f'invalid parameter "{name}": must be a duration >= 0')
    return round(seconds * 1e9)


def _limit(request: Request, default: int = 100) -> int:
    text = _one(request, "limit")
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise _BadRequestError(
            f'invalid parameter "limit": expected an integer in 1..{MAX_LIMIT}, got {text!r}'
        )
    return int(text)


def _pairs(request: Request, name: str) -> dict[str, str]:
    """Repeatable ``name=key=value`` parameters."""
    found: dict[str, str] = {}
    for text in request.query_params.getlist(name):
        key, equals, value = text.partition("=")
        if not equals or not key.strip():
            raise _BadRequestError(f'invalid parameter "{name}": expected key=value, got {text!r}')
        found[key.strip()] = value
    return found


def _trace_id(text: str | None, name: str = "trace_id") -> str | None:
    if text is not None and not _TRACE_ID.match(text):
        raise _BadRequestError(f'invalid parameter "{name}": expected 32 hex digits, got {text!r}')
    return text.lower() if text else None


def _span_query(request: Request) -> SpanQuery:
    start, end = _window(request)
    low, high = _duration_ns(request, "min_duration"), _duration_ns(request, "max_duration")
    if low is not None and high is not None and high < low:
        raise _BadRequestError('invalid parameter "max_duration": below min_duration')
    return SpanQuery(
        service=_one(request, "service"),
        name=_one(request, "name"),
        status=_choice(request, "status", _STATUSES),
        kind=_choice(request, "kind", _KINDS),
        min_duration_ns=low,
        max_duration_ns=high,
        attributes=_pairs(request, "attr"),
        start_ns=start,
        end_ns=end,
        trace_id=_trace_id(_one(request, "trace_id")),
        limit=_limit(request),
    )


def _log_query(request: Request, *, window: bool = True) -> LogQuery:
    start, end = _window(request) if window else (None, None)
    return LogQuery(
        start_ns=start,
        end_ns=end,
        level=_choice(request, "level", _LEVELS),
        min_level=_choice(request, "min_level", _LEVELS),
        service=_one(request, "service"),
        text=_full_text(request),
        trace_id=_trace_id(_one(request, "trace_id")),
        request_id=_one(request, "request_id"),
        fields=_pairs(request, "field"),
        limit=_limit(request),
    )


def _full_text(request: Request) -> str | None:
    """The ``text`` parameter, checked against SQLite FTS5's syntax so a typo is a 400."""
    text = _one(request, "text")
    if text is None:
        return None
    with contextlib.closing(sqlite3.connect(":memory:")) as probe:
        probe.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
        try:
            probe.execute("SELECT rowid FROM t WHERE t MATCH ?", (text,)).fetchall()
        except sqlite3.Error as error:
            raise _BadRequestError(
                f'invalid parameter "text": {error} in full-text query {text!r}'
            ) from None
    return text


def _span_dict(span: Any) -> dict[str, Any]:
    data = asdict(span)
    data["duration_ns"] = span.end_ns - span.start_ns
    return data


def _stopping(server: Server) -> bool:
    """True once the server is shutting down: an open tail must end, or uvicorn would wait for
    it forever before running the shutdown that flushes the stores."""
    web = getattr(server, "_uvicorn", None)
    return bool(getattr(web, "should_exit", False))


def telemetry_routes(server: Server) -> list[BaseRoute]:
    """The traces and logs search routes of ``server`` (mounted before ``/api/v1/traces/{id}``)."""

    def service() -> TelemetryService:
        if server.telemetry is None:
            if server.ready and not server.config.vigie.telemetry.enabled:
                raise _BadRequestError(
                    "traces and logs are disabled (vigie.telemetry.enabled)",
                    status=404,
                    kind="not_found",
                )
            raise _BadRequestError("Service Unavailable", status=503, kind="unavailable")
        return server.telemetry

    def enveloped(work: Callable[[Request, TelemetryService], Any]) -> Handler:
        """Validate on the loop, search in a worker thread, answer in the envelope."""

        async def handler(request: Request) -> Response:
            try:
                telemetry = service()
                data = await asyncio.to_thread(work(request, telemetry))
            except _BadRequestError as error:
                body = {"status": "error", "errorType": error.kind, "error": error.message}
                return _json(body, error.status)
            except ValueError as error:  # e.g. a malformed full-text query, named by the store
                return _json({"status": "error", "errorType": "bad_data", "error": str(error)}, 400)
            except TelemetryError as error:
                return _json({"status": "error", "errorType": "internal", "error": str(error)}, 500)
            return _json({"status": "success", "data": data})

        return handler

    def traces_search(request: Request, telemetry: TelemetryService) -> Callable[[], Any]:
        query = _span_query(request)
        view = _choice(request, "view", ("traces", "spans")) or "traces"
        if view == "spans":
            return lambda: [_span_dict(span) for span in telemetry.search_spans(query)]
        return lambda: [asdict(summary) for summary in telemetry.search_traces(query)]

    def red(request: Request, telemetry: TelemetryService) -> Callable[[], Any]:
        start, end = _window(request)
        end = end if end is not None else int(telemetry.clock() * 1e9)
        start = start if start is not None else end - _HOUR_NS
        name, kind = _one(request, "service"), _choice(request, "kind", _KINDS)

        def run() -> list[dict[str, Any]]:
            found = telemetry.red_summary(start_ns=start, end_ns=end, service=name, kind=kind)
            return [{**asdict(item), "error_ratio": item.error_ratio} for item in found]

        return run

    def trace(request: Request, telemetry: TelemetryService) -> Callable[[], Any]:
        trace_id = _trace_id(request.path_params["trace_id"], "trace id")
        assert trace_id is not None

        def run() -> dict[str, Any]:
            found = telemetry.get_trace(trace_id)
            if found is None:
                raise _BadRequestError(f"trace {trace_id} not found", status=404, kind="not_found")
            return found.to_dict()

        return run

    def logs_search(request: Request, telemetry: TelemetryService) -> Callable[[], Any]:
        query = _log_query(request)
        return lambda: [line.to_dict() for line in telemetry.search_logs(query)]

    def alert_correlation(request: Request, telemetry: TelemetryService) -> Callable[[], Any]:
        labels = _pairs(request, "label")
        if not labels:
            raise _BadRequestError('missing parameter "label": give the alert labels as name=value')
        start, end = _window(request)
        if start is None:
            raise _BadRequestError('missing parameter "start": when the alert became active')
        min_level = _choice(request, "min_level", _LEVELS)
        limit = _limit(request, 50)

        def run() -> dict[str, Any]:
            found = telemetry.alert_telemetry(
                labels, start_ns=start, end_ns=end, min_level=min_level, limit=limit
            )
            return {
                "service": found.service,
                "start_ns": found.start_ns,
                "end_ns": found.end_ns,
                "traces": [asdict(summary) for summary in found.traces],
                "logs": [line.to_dict() for line in found.logs],
            }

        return run

    async def logs_tail(request: Request) -> Response:
        try:
            telemetry = service()
            query = _log_query(request, window=False)
            resume = request.headers.get("last-event-id") or _one(request, "after_id")
            if resume is not None and not resume.isdigit():
                raise _BadRequestError(f'invalid parameter "after_id": {resume!r} is not a line id')
        except _BadRequestError as error:
            body = {"status": "error", "errorType": error.kind, "error": error.message}
            return _json(body, error.status)
        after_id = int(resume) if resume is not None else None

        async def events() -> AsyncIterator[str]:
            yield "retry: 2000\n\n"  # sent at once, so the browser sees the stream open
            lines = telemetry.tail_logs(query, after_id=after_id).__aiter__()
            # One pending read survives keep-alives: cancelling it would close the generator.
            pending: asyncio.Future[Any] = asyncio.ensure_future(lines.__anext__())
            quiet = 0.0
            try:
                while not _stopping(server):
                    done, _ = await asyncio.wait({pending}, timeout=1)
                    if not done:
                        quiet += 1
                        if quiet >= _KEEP_ALIVE_SECONDS:
                            quiet = 0
                            yield ": keep-alive\n\n"
                        continue
                    quiet = 0
                    try:
                        line = pending.result()
                    except StopAsyncIteration:
                        return
                    yield sse_event(line)
                    pending = asyncio.ensure_future(lines.__anext__())
            finally:
                pending.cancel()

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    return [
        Route("/api/v1/traces/search", enveloped(traces_search), methods=["GET"]),
        Route("/api/v1/traces/red", enveloped(red), methods=["GET"]),
        Route("/api/v1/traces/{trace_id}", enveloped(trace), methods=["GET"]),
        Route("/api/v1/logs/search", enveloped(logs_search), methods=["GET"]),
        Route("/api/v1/logs/tail", logs_tail, methods=["GET"]),
        Route("/api/v1/alerts/telemetry", enveloped(alert_correlation), methods=["GET"]),
    ]
