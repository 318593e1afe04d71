"""The UI's dashboards by name, and all of one dashboard's data in one request.

The UI draws the same definitions as the Grafana export (``vigie.rules.packs.dashboards``). A
dashboard page asks ``GET /ui/api/dashboard/<name>/data`` once instead of one ``/api/v1/query*``
per panel query: the browser's six connections per host no longer queue thirty requests, and
the server evaluates every query in one worker thread. Each panel gets a step chosen from its
width in pixels (one point per three pixels, rounded up to a "nice" step, at least 5 s), and the
whole answer is cached for a few seconds, keyed on the aligned window: several people (or tabs,
or a wall screen) opening the same dashboard share one evaluation. A panel with no data says
why: a metric that does not exist at all points at the collector or instrumentation to turn on.

Example::

    >>> dashboard_definition("infrastructure")["uid"]
    'vigie-infrastructure'
    >>> nice_step(3600, 466)
    30
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from vigie.exceptions import VigieError

if TYPE_CHECKING:
    from vigie.server.runtime import Server
    from vigie.store.interface import Querier

__all__ = [
    "DashboardData",
    "dashboard_definition",
    "dashboard_names",
    "empty_reason",
    "nice_step",
]

#: Short names the UI uses (``/ui/api/dashboard/infrastructure``), beside the uids.
_ALIASES = {"overview": "vigie-ai-overview", "infrastructure": "vigie-infrastructure"}
_NICE_STEPS = (5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
               86400)  # fmt: skip
#: Pixels per point of a time-series panel: finer is invisible and costs drawing time.
_PIXELS_PER_POINT = 3
_CACHE_TTL_S = 10.0
_CACHE_ENTRIES = 64
_MAX_EXTRA = 16
_INSTANT_KINDS = frozenset({"stat", "gauge", "table"})

_FALLBACK: dict[str, Any] = {
    "title": "vigie / service overview",
    "uid": "vigie-fallback-overview",
    "description": "",
    "tags": ["vigie"],
    "refresh": "30s",
    "rows": [
        {
            "title": "HTTP",
            "panels": [
                {
                    "title": "Request rate",
                    "kind": "timeseries",
                    "unit": "reqps",
                    "description": "Requests per second handled by each service.",
                    "queries": [
                        {
                            "expr": "sum by (job) "
                            "(rate(http_server_request_duration_seconds_count[5m]))",
                            "legend": "{{job}}",
                            "instant": False,
                        }
                    ],
                    "thresholds": [],
                    "width": 12,
                    "height": 8,
                },
            ],
        }
    ],
}

#: Why a metric may be missing, by name prefix (first match wins): the collector or the
#: instrumentation that produces it.
_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("node_", "", "is the host collector on? (vigie.collectors.host in the server config)"),
    ("pg_", "", "is the PostgreSQL collector configured? (vigie.collectors.postgres)"),
    ("db_client_", "redis", "does the app call vigie.instrument_redis(client)?"),
    ("db_client_", "", "does the app call vigie.instrument_sqlalchemy(engine)?"),
    ("gen_ai_", "", "does the app use an instrumented LLM client (vigie.instrument_openai...)?"),
    ("http_server_", "", "is the app instrumented (vigie.instrument_fastapi...) and scraped?"),
    ("vigie_auth_failures", "", "does the app call vigie.record_auth_failure(reason)?"),
    ("process_", "", "is the app's /metrics scraped? (process metrics are on by default)"),
)


def dashboard_names() -> dict[str, str]:
    """Short name -> uid of every dashboard the UI serves."""
    names = dict(_ALIASES)
    for uid in _definitions():
        names.setdefault(uid.removeprefix("vigie-"), uid)
    return names


def _definitions() -> dict[str, dict[str, Any]]:
    try:
        from vigie.rules.packs.dashboards import builtin_dashboards
    except ImportError:  # pragma: no cover - the pack ships with vigie; kept for partial builds
        return {"vigie-ai-overview": _FALLBACK}
    return {board.uid: dataclasses.asdict(board) for board in builtin_dashboards()}


def dashboard_definition(name: str = "overview") -> dict[str, Any]:
    """A dashboard as JSON-ready data, by short name or uid; KeyError when there is none."""
    definitions = _definitions()
    uid = dashboard_names().get(name, name)
    if uid not in definitions and uid == "vigie-ai-overview":
        return _FALLBACK  # pragma: no cover - partial builds
    return definitions[uid]


def nice_step(range_s: int, width_px: int) -> int:
    """Seconds between points for a panel ``width_px`` wide showing ``range_s`` seconds."""
    points = max(1, width_px // _PIXELS_PER_POINT)
    wanted = math.ceil(range_s / points)
    for step in _NICE_STEPS:
        if step >= wanted:
            return step
    return _NICE_STEPS[-1]


def _selectors(node: Any) -> list[Any]:
    """The vector selectors of a parsed PromQL tree, depth first."""
    if type(node).__name__ == "VectorSelector":
        return [node]
    found: list[Any] = []
    for attribute in ("expr", "lhs", "rhs", "vector_selector", "param"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, str | int | float):
            found += _selectors(child)
    for child in getattr(node, "args", None) or ():
        found += _selectors(child)
    return found


def empty_reason(querier: Querier, exprs: list[str], now_ms: int) -> str:
    """Why queries answered nothing: a selector that matches no series at all, and its source.

    >>> from vigie.store.memory import MemoryStorage
    >>> empty_reason(MemoryStorage().querier(), ["rate(pg_stat_database_deadlocks[5m])"], 0)
    'no data: pg_stat_database_deadlocks is not collected; is the PostgreSQL collector \
configured? (vigie.collectors.postgres)'
    """
    from vigie.query.parser import parse
    from vigie.query.selectors import matchers_of
    from vigie.store.interface import Matcher

    for expr in exprs:
        try:
            selectors = _selectors(parse(expr))
        except VigieError:
            continue
        for selector in selectors:
            if any(querier.label_values("__name__", g, 0, now_ms) for g in matchers_of(selector)):
                continue
            name = selector.name or ""
            by_name = [Matcher("__name__", "=", name)] if name else []
            if by_name and querier.label_values("__name__", by_name, 0, now_ms):
                problem = f"no series matches {str(selector).removesuffix('{}')}"
            else:
                problem = f"{name or str(selector)} is not collected"
            for prefix, marker, hint in _SOURCES:
                if name.startswith(prefix) and marker in expr:
                    return f"no data: {problem}; {hint}"
            return f"no data: {problem}; is the service that exports it scraped?"
    return "no data in this time range (the series exist, with no sample here)"


def _result_json(result: Any) -> dict[str, Any]:
    """The ``data`` of ``/api/v1/query`` for a result, stale markers dropped."""
    from vigie.server.api import format_time, format_value
    from vigie.store.interface import stale_mask

    kind = result.result_type
    if kind == "vector":
        rows = [
            {"metric": s.labels, "value": [format_time(s.timestamp_ms), format_value(s.value)]}
            for s in result.samples
        ]
        return {"resultType": "vector", "result": rows}
    if kind == "matrix":
        series = []
        for item in result.series:
            keep = ~stale_mask(item.values)
            times, values = item.timestamps[keep].tolist(), item.values[keep].tolist()
            pairs = [[format_time(t), format_value(v)] for t, v in zip(times, values, strict=True)]
            series.append({"metric": item.labels, "values": pairs})
        return {"resultType": "matrix", "result": series}
    point = [format_time(result.timestamp_ms), format_value(result.value)]
    if kind == "scalar":
        return {"resultType": "scalar", "result": point}
    return {"resultType": "string", "result": [point[0], result.value]}


def _has_data(result: dict[str, Any]) -> bool:
    return result.get("resultType") in ("scalar", "string") or bool(result.get("result"))


class DashboardData:
    """Evaluates dashboards for the UI, with a short-lived cache of whole answers.

    ``evaluate`` is blocking (run it in a worker thread); the cache is shared by all requests.
    """

    def __init__(self, server: Server, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.server = server
        self.clock = clock
        self._cache: OrderedDict[tuple[Any, ...], tuple[float, list[dict[str, Any]]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def evaluate(
        self,
        name: str,
        *,
        end_s: int,
        range_s: int,
        width_px: int,
        extra: tuple[str, ...] = (),
        fresh: bool = False,
    ) -> dict[str, Any]:
        """Every panel's results of dashboard ``name`` over ``range_s`` seconds up to ``end_s``.

        ``extra`` instant queries are evaluated at ``end_s`` too (the overview's service
        table). Raises KeyError for an unknown dashboard. The parts of :meth:`parts` in one
        mapping: ``uid``, ``end``, ``range``, ``extra``, ``panels``, ``took_ms``, ``cached``.
        """
        data: dict[str, Any] = {"panels": []}
        for part in self.parts(name, end_s=end_s, range_s=range_s, width_px=width_px,
                               extra=extra, fresh=fresh):  # fmt: skip
            if "panel" in part:
                data["panels"].append({k: v for k, v in part.items() if k != "panel"})
            else:
                data.update({k: v for k, v in part.items() if k != "done"})
        return data

    def parts(
        self,
        name: str,
        *,
        end_s: int,
        range_s: int,
        width_px: int,
        extra: tuple[str, ...] = (),
        fresh: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """The answer piece by piece: a header (``uid``, ``end``, ``range``), the ``extra``
        results, one part per panel (``panel``: its index, ``step``, ``results``, ``empty``),
        then ``done`` with ``took_ms`` and ``cached``. Raises KeyError for an unknown dashboard.
        """
        definition = dashboard_definition(name)
        key = (definition["uid"], end_s, range_s, width_px, extra)
        now = self.clock()
        if not fresh:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and now - hit[0] < _CACHE_TTL_S:
                yield from hit[1]
                yield {"done": True, "took_ms": 0.0, "cached": True}
                return
        started = time.perf_counter()
        produced: list[dict[str, Any]] = [
            {"uid": definition["uid"], "end": end_s, "range": range_s},
            {"extra": [self._query(e, end_s, end_s, 0, instant=True) for e in extra[:_MAX_EXTRA]]},
        ]
        yield from produced
        panels = [panel for row in definition["rows"] for panel in row["panels"]]
        for index, panel in enumerate(panels):
            part = {"panel": index, **self._panel(panel, end_s, range_s, width_px)}
            produced.append(part)
            yield part
        with self._lock:
            self._cache[key] = (now, produced)
            self._cache.move_to_end(key)
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        took = round((time.perf_counter() - started) * 1000, 1)
        yield {"done": True, "took_ms": took, "cached": False}

    def _panel(
        self, panel: dict[str, Any], end_s: int, range_s: int, width_px: int
    ) -> dict[str, Any]:
        instant_panel = panel["kind"] in _INSTANT_KINDS
        step = nice_step(range_s, max(1, width_px * int(panel.get("width") or 8) // 24))
        # The last point falls on the window's end; the first a whole number of steps before.
        start_s = end_s - math.ceil(range_s / step) * step
        results = []
        for query in panel["queries"]:
            if query.get("instant") or instant_panel:
                result = self._query(query["expr"], end_s, end_s, 0, instant=True)
            else:
                result = self._query(query["expr"], start_s, end_s, step, instant=False)
            result["window"] = [end_s - range_s, end_s]
            results.append(result)
        answer: dict[str, Any] = {"step": step, "results": results, "empty": None}
        if panel["kind"] != "stat" and not any(_has_data(r) for r in results):
            storage = self.server.storage
            if storage is not None:
                exprs = [query["expr"] for query in panel["queries"]]
                answer["empty"] = empty_reason(storage.querier(), exprs, end_s * 1000 + 1000)
        return answer

    def _query(
        self, expr: str, start_s: int, end_s: int, step_s: int, *, instant: bool
    ) -> dict[str, Any]:
        from vigie.query.engine import Engine

        settings = self.server.config.vigie.query
        kind = "instant" if instant else "range"
        engine = Engine(
            self.server.storage,
            lookback_delta_ms=settings.lookback_delta_ms,
            max_samples=settings.max_samples,
            timeout_s=settings.timeout_ms / 1000,
        )
        try:
            evaluation = engine.evaluate(
                expr, start_s * 1000, end_s * 1000, step_s * 1000, instant=instant
            )
        except Exception as error:  # one bad panel must not blank the others
            self.server.metrics.queries.labels(kind, "error").inc()
            return {"resultType": "error", "result": [], "error": str(error)}
        self.server.metrics.queries.labels(kind, "success").inc()
        return _result_json(evaluation.result)
