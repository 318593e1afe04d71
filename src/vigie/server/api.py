"""The Prometheus HTTP API (``/api/v1``) and ``/federate``, with Prometheus's exact envelope.

Every response is ``{"status": "success", "data": ...}`` or ``{"status": "error", "errorType":
..., "error": ...}`` with the HTTP status Prometheus uses for that error type, so Grafana,
``promtool query`` and any Prometheus client work unchanged. Parameters are read from the query
string and, for POST, from a form body, as Prometheus does.

Example::

    $ curl -s 'http://127.0.0.1:9800/api/v1/query?query=up'
    {"status":"success","data":{"resultType":"vector","result":[...]}}
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import numpy as np
import yaml
from starlette.requests import Request
from starlette.responses import Response

import vigie
from vigie.exceptions import (
    PromQLParseError,
    QueryError,
    QueryLimitError,
    QueryTimeoutError,
    UnsupportedQueryError,
)
from vigie.query import Engine, Evaluation
from vigie.server.config import format_duration, parse_duration
from vigie.server.exposition import MetricMetadata
from vigie.server.query_limits import QUEUE_TIMEOUT, QueryGate
from vigie.store.interface import Matcher, Querier, stale_mask

if TYPE_CHECKING:
    from vigie.server.runtime import Server

__all__ = ["ApiError", "format_value", "routes"]

logger = logging.getLogger("vigie.server")

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
#: Prometheus's ``minTime`` / ``maxTime`` for absent ``start`` / ``end``, in milliseconds.
MIN_TIME_MS = -9_223_372_036_854_775 // 1000 * 1000
MAX_TIME_MS = 9_223_372_036_854_775 // 1000 * 1000
_MAX_POINTS = 11_000
#: Prometheus's wording (``promql.ErrTooManySamples("query execution")``).
_TOO_MANY_SAMPLES = "query processing would load too many samples into memory in query execution"
_NEGATIVE_STEP = (
    'invalid parameter "step": zero or negative query resolution step widths are not accepted. '
    "Try a positive integer"
)
_TOO_MANY_POINTS = (
    "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
    "resolution (?step=XX)"
)
_STATUS = {
    "bad_data": 400, "execution": 422, "timeout": 503, "canceled": 503,
    "internal": 500, "unavailable": 503, "not_found": 404,
}  # fmt: skip

Handler = Callable[[Request], Awaitable[Response]]
#: The monotonic deadline of the query being evaluated (set once it has left the queue).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


class ApiError(Exception):
    """An error the API reports in the envelope: ``kind`` is Prometheus's ``errorType``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it (Go's ``FormatFloat(v, 'f', -1, 64)``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if "e" in text:
        return np.format_float_positional(value, trim="-")
    return text[:-2] if text.endswith(".0") else text


def format_time(ms: int) -> float | int:
    """Seconds as Prometheus writes timestamps: an integer when whole."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _envelope(
    data: Any, warnings: list[str] | None = None, infos: list[str] | None = None
) -> Response:
    body: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = warnings
    if infos:
        body["infos"] = infos
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


def _error(error: ApiError) -> Response:
    body = {"status": "error", "errorType": error.kind, "error": error.message}
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=_STATUS.get(error.kind, 500),
        media_type="application/json",
    )


async def _params(request: Request) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        found.setdefault(key, []).append(value)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
        # Parsed here: Starlette's form() needs python-multipart even for url-encoded bodies.
        body = (await request.body()).decode("utf-8", "replace")
        for key, value in parse_qsl(body, keep_blank_values=True):
            found.setdefault(key, []).append(value)
    return found


def parse_time(text: str, name: str) -> int:
    """Milliseconds from a Unix timestamp (float seconds) or an RFC 3339 date."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return round(seconds * 1000)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError("bad_data", f'invalid parameter "{name}": cannot parse "{text}" '
                       "to a valid timestamp") from None  # fmt: skip
    return round(moment.timestamp() * 1000)


def parse_step(text: str, name: str) -> int:
    """Milliseconds from float seconds or a Prometheus duration."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            return parse_duration(text)
        except ValueError:
            raise ApiError("bad_data", f'invalid parameter "{name}": cannot parse "{text}" '
                           "to a valid duration") from None  # fmt: skip
    if not math.isfinite(seconds):
        raise ApiError("bad_data", f'invalid parameter "{name}": cannot parse "{text}" '
                       "to a valid duration")  # fmt: skip
    return round(seconds * 1000)


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def _time_range(params: dict[str, list[str]]) -> tuple[int, int]:
    start = _one(params, "start")
    end = _one(params, "end")
    mint = parse_time(start, "start") if start else MIN_TIME_MS
    maxt = parse_time(end, "end") if end else MAX_TIME_MS
    if maxt < mint:
        raise ApiError("bad_data", 'invalid parameter "end": end timestamp must not be before '
                       "start time")  # fmt: skip
    return mint, maxt


def selector_matchers(text: str) -> list[list[Matcher]]:
    """Store matchers of a series selector (``match[]``); alternatives for ``or`` matchers."""
    from vigie.query.parser import parse
    from vigie.query.selectors import matchers_of

    try:
        tree = parse(text)
    except PromQLParseError as error:
        raise ApiError("bad_data", f'invalid parameter "match[]": {error}') from None
    if type(tree).__name__ != "VectorSelector":
        raise ApiError("bad_data", f'invalid parameter "match[]": "{text}" is not a series '
                       "selector")  # fmt: skip
    groups = matchers_of(tree)
    for group in groups:
        if all(m.matches("") for m in group):
            raise ApiError("bad_data", 'invalid parameter "match[]": match[] must contain at '
                           "least one non-empty matcher")  # fmt: skip
    return groups


def _matcher_sets(params: dict[str, list[str]], required: bool) -> list[list[Matcher]]:
    texts = params.get("match[]", [])
    if required and not texts:
        raise ApiError("bad_data", "no match[] parameter provided")
    return [group for text in texts for group in selector_matchers(text)]


def _result_json(result: Any) -> dict[str, Any]:
    kind = result.result_type
    if kind == "vector":
        rows = [
            {"metric": sample.labels, "value": [format_time(sample.timestamp_ms),
                                                format_value(sample.value)]}
            for sample in result.samples
        ]  # fmt: skip
        return {"resultType": "vector", "result": rows}
    if kind == "matrix":
        return {"resultType": "matrix", "result": [_series_json(s) for s in result.series]}
    if kind == "scalar":
        point = [format_time(result.timestamp_ms), format_value(result.value)]
        return {"resultType": "scalar", "result": point}
    return {"resultType": "string", "result": [format_time(result.timestamp_ms), result.value]}


def _series_json(series: Any) -> dict[str, Any]:
    keep = ~stale_mask(series.values)
    times = series.timestamps[keep].tolist()
    values = series.values[keep].tolist()
    return {
        "metric": series.labels,
        "values": [[format_time(t), format_value(v)] for t, v in zip(times, values, strict=True)],
    }


def _query_error(error: Exception) -> ApiError:
    if isinstance(error, PromQLParseError):
        return ApiError("bad_data", str(error))
    if isinstance(error, QueryTimeoutError):
        message = str(error)
        if not message.startswith("query timed out"):
            message = f"query timed out in expression evaluation: {message}"
        return ApiError("timeout", message)
    if isinstance(error, QueryLimitError) and "too many samples" in str(error):
        return ApiError("execution", _TOO_MANY_SAMPLES)
    if isinstance(error, QueryLimitError | UnsupportedQueryError | QueryError):
        return ApiError("execution", str(error))
    return ApiError("internal", str(error))


def routes(server: Server) -> list[tuple[str, Handler, list[str]]]:
    """``(path, handler, methods)`` of every API route of ``server``."""

    gate = QueryGate()

    def endpoint(
        work: Callable[[dict[str, list[str]], Request], Any], *, queued: bool = False
    ) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                if not server.ready or server.storage is None:
                    raise ApiError("unavailable", "Service Unavailable")
                params = await _params(request)
                if queued:
                    data = await evaluate_queued(work, params, request)
                else:
                    data = await asyncio.to_thread(work, params, request)
            except ApiError as error:
                return _error(error)
            except Exception as error:  # a bug: still answer in the envelope, and log it
                logger.exception("%s failed", request.url.path)
                return _error(ApiError("internal", f"{type(error).__name__}: {error}"))
            if isinstance(data, Response):
                return data
            if isinstance(data, _Truncated):
                return _envelope(data.items, ["results truncated due to limit"])
            return _envelope(data)

        return handler

    def querier() -> Querier:
        assert server.storage is not None
        return server.storage.querier()

    def timeout_of(params: dict[str, list[str]]) -> float:
        """Seconds: ``vigie.query.timeout``, or the request's ``timeout`` if lower (Prometheus)."""
        limit = server.config.vigie.query.timeout_ms / 1000
        text = _one(params, "timeout")
        if not text:
            return limit
        return min(limit, parse_step(text, "timeout") / 1000)

    async def evaluate_queued(
        work: Callable[[dict[str, list[str]], Request], Any],
        params: dict[str, list[str]],
        request: Request,
    ) -> Any:
        """Run a query once one of ``vigie.query.max_concurrency`` slots is free.

        The time spent waiting counts against the query's timeout, as in Prometheus's active
        query tracker; the engine gets what remains (the deadline travels in a context variable,
        which ``asyncio.to_thread`` carries to the worker thread).
        """
        settings = server.config.vigie.query
        timeout = timeout_of(params)
        deadline = time.monotonic() + timeout
        try:
            await gate.acquire(limit=settings.max_concurrency, timeout_s=timeout)
        except TimeoutError:
            server.metrics.queries.labels(_kind(request), "error").inc()
            raise ApiError("timeout", QUEUE_TIMEOUT) from None
        if await request.is_disconnected():
            # A dashboard that gave up while this query waited: evaluating it would only delay
            # the queries behind it (under load, the queue fills with abandoned requests).
            await gate.release()
            server.metrics.queries.labels(_kind(request), "canceled").inc()
            raise ApiError("canceled", "query canceled: the client disconnected while it waited")
        token = _DEADLINE.set(deadline)
        try:
            return await asyncio.to_thread(work, params, request)
        finally:
            _DEADLINE.reset(token)
            await gate.release()

    def engine(params: dict[str, list[str]]) -> Engine:
        settings = server.config.vigie.query
        deadline = _DEADLINE.get()
        timeout = deadline - time.monotonic() if deadline is not None else timeout_of(params)
        return Engine(
            server.storage,
            lookback_delta_ms=settings.lookback_delta_ms,
            max_samples=settings.max_samples,
            timeout_s=max(timeout, 0.0),
        )

    def evaluate(kind: str, work: Callable[[], Evaluation]) -> Response:
        try:
            evaluation = work()
        except Exception as error:
            server.metrics.queries.labels(kind, "error").inc()
            raise _query_error(error) from None
        server.metrics.queries.labels(kind, "success").inc()
        return _envelope(_result_json(evaluation.result), evaluation.warnings, evaluation.infos)

    def query(params: dict[str, list[str]], request: Request) -> Any:
        expr = _one(params, "query")
        if expr is None:
            raise ApiError("bad_data", 'invalid parameter "query": query parameter is required')
        moment = _one(params, "time")
        at = parse_time(moment, "time") if moment else int(time.time() * 1000)
        runner = engine(params)
        return evaluate("instant", lambda: runner.evaluate(expr, at, at, 0, instant=True))

    def query_range(params: dict[str, list[str]], request: Request) -> Any:
        expr = _one(params, "query")
        if expr is None:
            raise ApiError("bad_data", 'invalid parameter "query": query parameter is required')
        texts = {name: _one(params, name) for name in ("start", "end", "step")}
        for name, text in texts.items():
            if text is None:
                raise ApiError("bad_data", f'invalid parameter "{name}": missing')
        start = parse_time(texts["start"] or "", "start")
        end = parse_time(texts["end"] or "", "end")
        if end < start:
            raise ApiError("bad_data", 'invalid parameter "end": end timestamp must not be '
                           "before start time")  # fmt: skip
        step = parse_step(texts["step"] or "", "step")
        if step <= 0:
            raise ApiError("bad_data", _NEGATIVE_STEP)
        if (end - start) // step > _MAX_POINTS:
            raise ApiError("bad_data", _TOO_MANY_POINTS)
        runner = engine(params)
        return evaluate("range", lambda: runner.evaluate(expr, start, end, step, instant=False))

    def series(params: dict[str, list[str]], request: Request) -> Any:
        groups = _matcher_sets(params, required=True)
        mint, maxt = _time_range(params)
        reader = querier()
        found: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        for group in groups:
            for item in reader.select(group, mint, maxt):
                found.setdefault(tuple(sorted(item.labels.items())), item.labels)
        return _limited([found[key] for key in sorted(found)], params)

    def labels(params: dict[str, list[str]], request: Request) -> Any:
        groups = _matcher_sets(params, required=False)
        mint, maxt = _time_range(params)
        reader = querier()
        if not groups:
            return _limited(reader.label_names([], mint, maxt), params)
        names: set[str] = set()
        for group in groups:
            names.update(reader.label_names(group, mint, maxt))
        return _limited(sorted(names), params)

    def label_values(params: dict[str, list[str]], request: Request) -> Any:
        name = request.path_params["name"]
        if name.startswith("U__"):
            name = _unescape_label(name)
        if not _LABEL_NAME.match(name):
            raise ApiError("bad_data", f'invalid label name: "{name}"')
        groups = _matcher_sets(params, required=False)
        mint, maxt = _time_range(params)
        reader = querier()
        if not groups:
            return _limited(reader.label_values(name, [], mint, maxt), params)
        values: set[str] = set()
        for group in groups:
            values.update(reader.label_values(name, group, mint, maxt))
        return _limited(sorted(values), params)

    def metadata(params: dict[str, list[str]], request: Request) -> Any:
        limit = _int_param(params, "limit")
        per_metric = _int_param(params, "limit_per_metric")
        wanted = _one(params, "metric")
        merged: dict[str, list[dict[str, str]]] = {}
        sources: list[dict[str, MetricMetadata]] = [server.remote_metadata]
        if server.scrapes is not None:
            sources += [loop.metadata for loop in server.scrapes.loops()]
        for source in sources:
            for name, item in source.items():
                if wanted is not None and name != wanted:
                    continue
                entry = {"type": item.type, "help": item.help, "unit": item.unit}
                bucket = merged.setdefault(name, [])
                if entry not in bucket and (per_metric is None or per_metric <= 0
                                            or len(bucket) < per_metric):  # fmt: skip
                    bucket.append(entry)
        names = sorted(merged)
        if limit is not None and limit >= 0:
            names = names[:limit]
        return {name: merged[name] for name in names}

    def targets(params: dict[str, list[str]], request: Request) -> Any:
        state = (_one(params, "state") or "any").lower()
        pool = _one(params, "scrapePool")
        active = []
        if state in ("any", "active") and server.scrapes is not None:
            for loop in server.scrapes.loops():
                if pool and loop.target.job != pool:
                    continue
                active.append(target_json(loop))
        dropped = []
        counts: dict[str, int] = {}
        if server.scrapes is not None:
            for target in server.scrapes.dropped:
                job = target.scrape.job_name
                counts[job] = counts.get(job, 0) + 1
                if state in ("any", "dropped") and (not pool or job == pool):
                    dropped.append({"discoveredLabels": dict(target.discovered)})
        data: dict[str, Any] = {"activeTargets": active, "droppedTargets": dropped}
        if state == "active":
            del data["droppedTargets"]
        elif state == "dropped":
            data = {"droppedTargets": dropped}
        data["droppedTargetCounts"] = counts
        return data

    def buildinfo(params: dict[str, list[str]], request: Request) -> Any:
        return {
            "version": vigie.__version__, "revision": "", "branch": "", "buildUser": "",
            "buildDate": "", "goVersion": "", "application": "vigie",
        }  # fmt: skip

    def format_query(params: dict[str, list[str]], request: Request) -> Any:
        from vigie.query.parser import parse_unchecked

        expr = _one(params, "query")
        if expr is None:
            raise ApiError("bad_data", 'invalid parameter "query": query parameter is required')
        try:
            return parse_unchecked(expr).prettify()
        except PromQLParseError as error:
            raise ApiError("bad_data", str(error)) from None

    def federate(params: dict[str, list[str]], request: Request) -> Any:
        groups = _matcher_sets(params, required=False)
        now = int(time.time() * 1000)
        reader = querier()
        found: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], int, float]] = {}
        for group in groups:
            lookback = server.config.vigie.query.lookback_delta_ms
            for item in reader.select(group, now - lookback, now):
                if len(item.values) == 0 or stale_mask(item.values[-1:])[0]:
                    continue
                key = tuple(sorted(item.labels.items()))
                found.setdefault(key, (item.labels, int(item.timestamps[-1]),
                                       float(item.values[-1])))  # fmt: skip
        external = dict(server.config.global_config.external_labels)
        return Response(_federation_text(found, external),
                        media_type="text/plain; version=0.0.4; charset=utf-8")  # fmt: skip

    def query_exemplars(params: dict[str, list[str]], request: Request) -> Any:
        from vigie.server.exemplars_api import query_exemplars as exemplar_data

        text = _one(params, "query")
        if text is None:
            raise ApiError("bad_data", 'invalid parameter "query": query parameter is required')
        mint, maxt = _time_range(params)
        try:
            data = exemplar_data(server.storage, text, mint, maxt)
        except PromQLParseError as error:
            raise ApiError("bad_data", str(error)) from None
        return Response(status_code=204) if data is None else data  # 204: as Prometheus

    def rules(params: dict[str, list[str]], request: Request) -> Any:
        if server.rules is None:
            return {"groups": []}
        try:
            return server.rules.manager.rules_data(
                rule_type=_one(params, "type"),
                rule_names=params.get("rule_name[]", []),
                group_names=params.get("rule_group[]", []),
                files=params.get("file[]", []),
                exclude_alerts=(_one(params, "exclude_alerts") or "").lower() == "true",
            )
        except ValueError as error:
            raise ApiError("bad_data", f'invalid parameter "type": {error}') from None

    def alerts(params: dict[str, list[str]], request: Request) -> Any:
        if server.rules is None:
            return {"alerts": []}
        return server.rules.manager.alerts_data()

    def status_config(params: dict[str, list[str]], request: Request) -> Any:
        path = server.options.config_path
        text = path.read_text(encoding="utf-8") if path is not None and path.exists() else ""
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError:
            loaded = None
        masked = yaml.safe_dump(_masked(loaded), sort_keys=False) if loaded is not None else ""
        return {"yaml": masked}

    def status_flags(params: dict[str, list[str]], request: Request) -> Any:
        options = server.options
        limits = server.config.vigie.query
        return {
            "config.file": str(options.config_path or ""),
            "storage.tsdb.path": str(options.data_dir),
            "web.listen-address": f"{options.host}:{options.port}",
            "query.lookback-delta": format_duration(limits.lookback_delta_ms),
            "query.max-concurrency": str(limits.max_concurrency),
            "query.max-samples": str(limits.max_samples),
            "query.timeout": format_duration(limits.timeout_ms),
        }

    def target_json(loop: Any) -> dict[str, Any]:
        target = loop.target
        scrape = target.scrape
        discovered = dict(target.discovered)
        last = loop.last_scrape
        return {
            "discoveredLabels": discovered,
            "labels": dict(target.labels),
            "scrapePool": scrape.job_name,
            "scrapeUrl": target.url,
            "globalUrl": target.url,
            "lastError": loop.last_error,
            "lastScrape": last.isoformat().replace("+00:00", "Z")
            if last
            else "0001-01-01T00:00:00Z",
            "lastScrapeDuration": loop.last_duration,
            "health": loop.health,
            "scrapeInterval": format_duration(scrape.scrape_interval_ms),
            "scrapeTimeout": format_duration(scrape.scrape_timeout_ms),
        }

    both = ["GET", "POST"]
    return [
        ("/api/v1/query", endpoint(query, queued=True), both),
        ("/api/v1/query_range", endpoint(query_range, queued=True), both),
        ("/api/v1/series", endpoint(series), both),
        ("/api/v1/labels", endpoint(labels), both),
        ("/api/v1/label/{name}/values", endpoint(label_values), ["GET"]),
        ("/api/v1/metadata", endpoint(metadata), ["GET"]),
        ("/api/v1/query_exemplars", endpoint(query_exemplars), both),
        ("/api/v1/targets", endpoint(targets), ["GET"]),
        ("/api/v1/rules", endpoint(rules), ["GET"]),
        ("/api/v1/alerts", endpoint(alerts), ["GET"]),
        ("/api/v1/status/buildinfo", endpoint(buildinfo), ["GET"]),
        ("/api/v1/status/config", endpoint(status_config), ["GET"]),
        ("/api/v1/status/flags", endpoint(status_flags), ["GET"]),
        ("/api/v1/format_query", endpoint(format_query), both),
        ("/federate", endpoint(federate), ["GET"]),
    ]


def _kind(request: Request) -> str:
    return "range" if request.url.path.endswith("query_range") else "instant"


class _Truncated:
    """A list cut at the request's ``limit``: answered with Prometheus's warning."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items


def _limited(items: list[Any], params: dict[str, list[str]]) -> Any:
    """``items`` cut to the ``limit`` parameter (0 or absent: no limit), as Prometheus 2.49+."""
    limit = _int_param(params, "limit")
    if limit is None or limit <= 0 or len(items) <= limit:
        return items
    return _Truncated(items[:limit])


_SECRET_KEYS = frozenset({"bearer_token", "credentials", "password", "secret", "token"})
# (basic_auth's ``password`` is covered by "password".)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def _masked(value: Any) -> Any:
    """A config with every secret replaced by ``<secret>``, as Prometheus shows its own."""
    if isinstance(value, dict):
        return {
            key: "<secret>" if str(key) in _SECRET_KEYS and value[key] else _masked(value[key])
            for key in value
        }
    if isinstance(value, list):
        return [_masked(item) for item in value]
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\1<secret>@", value)
    return value


def _int_param(params: dict[str, list[str]], name: str) -> int | None:
    text = _one(params, name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ApiError(
            "bad_data", f'invalid parameter "{name}": {text!r} is not a number'
        ) from None


def _unescape_label(name: str) -> str:
    """Prometheus 3's ``U__`` escaping of label names in URLs (``_2e_`` -> ``.``)."""
    body = name[3:]
    return re.sub(r"_([0-9a-fA-F]+)_", lambda m: chr(int(m.group(1), 16)), body).replace("__", "_")


def _federation_text(
    found: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], int, float]],
    external: dict[str, str],
) -> str:
    """Text format 0.0.4, one ``# TYPE untyped`` per metric, timestamps included (as Prometheus)."""
    lines: list[str] = []
    current = None
    for key in sorted(found, key=lambda k: (dict(k).get("__name__", ""), k)):
        labels, timestamp, value = found[key]
        name = labels.get("__name__", "")
        if name != current:
            lines.append(f"# TYPE {name} untyped")
            current = name
        merged = {**external, **{k: v for k, v in labels.items() if k != "__name__"}}
        body = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(merged.items()))
        lines.append(f"{name}{{{body}}} {format_value(value)} {timestamp}")
    return "\n".join(lines) + ("\n" if lines else "")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
