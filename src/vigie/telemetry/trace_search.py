"""Finding spans and traces, drawing a trace as a waterfall, and per-operation RED summaries.

A search filters spans by service, span name, status, duration bounds, attribute equality and a
time range on the start, newest first. :func:`get_trace` returns a whole trace as the tree the UI
draws: each span with its depth, its offset from the start of the trace and its duration.
:func:`red_summary` gives, per service and operation, the request rate, the errors and the
duration percentiles over a window.

Example::

    >>> import tempfile, pathlib
    >>> from vigie.telemetry.span_store import SpanStore
    >>> store = SpanStore(pathlib.Path(tempfile.mkdtemp()) / "traces.db")
    >>> store.write([
    ...     Span("ab" * 16, "01" * 8, None, "GET /", "SERVER", "api", 1_000, 9_000),
    ...     Span("ab" * 16, "02" * 8, "01" * 8, "query", "CLIENT", "api", 2_000, 5_000,
    ...          status_code="ERROR"),
    ... ])
    >>> [s.name for s in search_spans(store, SpanQuery(service="api", status="error"))]
    ['query']
    >>> [(row.span.name, row.depth, row.offset_ns) for row in get_trace(store, "ab" * 16).spans]
    [('GET /', 0, 0), ('query', 1, 1000)]
    >>> store.close()
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vigie.telemetry.records import Span
from vigie.telemetry.span_store import SPAN_COLUMNS, SpanStore, span_from_row

__all__ = [
    "OperationSummary",
    "SpanQuery",
    "Trace",
    "TraceSummary",
    "WaterfallSpan",
    "get_trace",
    "red_summary",
    "search_spans",
    "search_traces",
]

_STATUSES = {"UNSET", "OK", "ERROR"}


@dataclass(frozen=True)
class SpanQuery:
    """Filters of a span search; every given one must match. Times are Unix nanoseconds."""

    service: str | None = None
    name: str | None = None
    status: str | None = None
    kind: str | None = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    start_ns: int | None = None
    end_ns: int | None = None
    trace_id: str | None = None
    limit: int = 100


def _where(query: SpanQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    values: list[Any] = []
    for column, value in (
        ("s.service", query.service),
        ("s.name", query.name),
        ("s.kind", query.kind.upper() if query.kind else None),
        ("s.trace_id", query.trace_id.lower() if query.trace_id else None),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            values.append(value)
    if query.status is not None:
        status = query.status.upper()
        if status not in _STATUSES:
            raise ValueError(f"status must be one of UNSET, OK, ERROR, got {query.status!r}")
        clauses.append("s.status_code = ?")
        values.append(status)
    for column, bound, operator in (
        ("s.duration_ns", query.min_duration_ns, ">="),
        ("s.duration_ns", query.max_duration_ns, "<="),
        ("s.start_ns", query.start_ns, ">="),
        ("s.start_ns", query.end_ns, "<"),
    ):
        if bound is not None:
            clauses.append(f"{column} {operator} ?")
            values.append(int(bound))
    for key, value in query.attributes.items():
        clauses.append("json_extract(s.attributes, ?) = ?")
        values += [_json_path(key), int(value) if isinstance(value, bool) else value]
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", values


def _json_path(key: str) -> str:
    """``$."http.route"``: attribute names contain dots, so the key is quoted."""
    return '$."' + key.replace('"', '""') + '"'


def search_spans(store: SpanStore, query: SpanQuery) -> list[Span]:
    """Spans matching ``query``, newest first, at most ``query.limit``."""
    where, values = _where(query)
    rows = store.database.read(
        f"SELECT {SPAN_COLUMNS} FROM spans s JOIN resources r ON r.id = s.resource_id"  # noqa: S608
        f"{where} ORDER BY s.start_ns DESC, s.id DESC LIMIT ?",
        [*values, query.limit],
    )
    return [span_from_row(row) for row in rows]


@dataclass(frozen=True)
class TraceSummary:
    """One trace in a result list: its root, size, errors and extent."""

    trace_id: str
    root_service: str
    root_name: str
    start_ns: int
    duration_ns: int
    span_count: int
    error_count: int


def search_traces(store: SpanStore, query: SpanQuery) -> list[TraceSummary]:
    """Traces having at least one span matching ``query``, newest first."""
    where, values = _where(query)
    # Walk matching spans newest first (an index scan) and keep distinct traces, page by page,
    # rather than grouping every matching span of the store.
    ids: list[str] = []
    page, offset = max(64, query.limit * 8), 0
    while len(ids) < query.limit:
        rows = store.database.read(
            f"SELECT s.trace_id FROM spans s{where} "  # noqa: S608
            "ORDER BY s.start_ns DESC, s.id DESC LIMIT ? OFFSET ?",
            [*values, page, offset],
        )
        for (trace_id,) in rows:
            if trace_id not in ids:
                ids.append(trace_id)
                if len(ids) == query.limit:
                    break
        if len(rows) < page:
            break
        offset += page
    summaries = []
    for trace_id in ids:
        row = store.database.read(
            "SELECT min(start_ns), max(end_ns), count(*), sum(status_code = 'ERROR') "
            "FROM spans WHERE trace_id = ?",
            (trace_id,),
        )[0]
        root = store.database.read(
            "SELECT service, name FROM spans WHERE trace_id = ? "
            "ORDER BY parent_span_id IS NOT NULL, start_ns LIMIT 1",
            (trace_id,),
        )[0]
        summaries.append(
            TraceSummary(trace_id, root[0], root[1], row[0], row[1] - row[0], row[2], row[3])
        )
    return summaries


@dataclass
class WaterfallSpan:
    """A span placed in its trace: nesting depth and offset from the trace start."""

    span: Span
    depth: int
    offset_ns: int
    children: list[WaterfallSpan] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the span's fields plus depth, offset and duration (children omitted)."""
        span = self.span
        return {
            "trace_id": span.trace_id,
            "span_id": span.span_id,
            "parent_span_id": span.parent_span_id,
            "name": span.name,
            "kind": span.kind,
            "service": span.service,
            "depth": self.depth,
            "start_ns": span.start_ns,
            "offset_ns": self.offset_ns,
            "duration_ns": span.duration_ns,
            "status_code": span.status_code,
            "status_message": span.status_message,
            "attributes": span.attributes,
            "events": span.events,
            "links": span.links,
        }


@dataclass
class Trace:
    """A whole trace: its spans depth-first (parents before children, siblings by start)."""

    trace_id: str
    start_ns: int
    end_ns: int
    spans: list[WaterfallSpan]

    @property
    def duration_ns(self) -> int:
        """From the earliest start to the latest end of its spans."""
        return self.end_ns - self.start_ns

    @property
    def roots(self) -> list[WaterfallSpan]:
        """Spans without a parent in the trace (a parent not received makes a root too)."""
        return [row for row in self.spans if row.depth == 0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready waterfall."""
        return {
            "trace_id": self.trace_id,
            "start_ns": self.start_ns,
            "duration_ns": self.duration_ns,
            "spans": [row.to_dict() for row in self.spans],
        }


def get_trace(store: SpanStore, trace_id: str) -> Trace | None:
    """The trace ``trace_id`` as a waterfall, or None when no span of it is stored."""
    spans = store.trace(trace_id)
    if not spans:
        return None
    start = min(span.start_ns for span in spans)
    end = max(span.end_ns for span in spans)
    by_id = {span.span_id: span for span in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in by_id else None
        children.setdefault(parent, []).append(span)
    ordered: list[WaterfallSpan] = []

    def place(span: Span, depth: int, parent: WaterfallSpan | None) -> None:
        row = WaterfallSpan(span, depth, span.start_ns - start)
        ordered.append(row)
        if parent is not None:
            parent.children.append(row)
        for child in children.get(span.span_id, []):
            if child is not span:  # a span naming itself as parent must not loop
                place(child, depth + 1, row)

    for root in children.get(None, []):
        place(root, 0, None)
    return Trace(trace_id.lower(), start, end, ordered)


@dataclass(frozen=True)
class OperationSummary:
    """RED figures of one operation (service + span name) over a window."""

    service: str
    name: str
    calls: int
    errors: int
    rate_per_second: float
    p50_ns: int
    p90_ns: int
    p99_ns: int

    @property
    def error_ratio(self) -> float:
        """Errors divided by calls."""
        return self.errors / self.calls if self.calls else 0.0


def red_summary(
    store: SpanStore,
    *,
    start_ns: int,
    end_ns: int,
    service: str | None = None,
    kind: str | None = None,
) -> list[OperationSummary]:
    """Rate, errors and duration percentiles per (service, span name), spans started in window."""
    where, values = _where(SpanQuery(service=service, kind=kind, start_ns=start_ns, end_ns=end_ns))
    rows = store.database.read(
        "SELECT s.service, s.name, s.duration_ns, s.status_code = 'ERROR' "  # noqa: S608
        f"FROM spans s{where}",
        values,
    )
    groups: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    for service_name, name, duration, failed in rows:
        durations, errors = groups.setdefault((service_name, name), ([], []))
        durations.append(duration)
        errors.append(failed)
    seconds = max((end_ns - start_ns) / 1e9, 1e-9)
    summaries = []
    for (service_name, name), (durations, errors) in sorted(groups.items()):
        durations.sort()
        summaries.append(
            OperationSummary(
                service=service_name,
                name=name,
                calls=len(durations),
                errors=sum(errors),
                rate_per_second=len(durations) / seconds,
                p50_ns=_nearest_rank(durations, 50),
                p90_ns=_nearest_rank(durations, 90),
                p99_ns=_nearest_rank(durations, 99),
            )
        )
    return summaries


def _nearest_rank(ascending: list[int], percent: int) -> int:
    """The ceil(percent / 100 * n)-th smallest value (nearest-rank percentile)."""
    return ascending[max(1, (len(ascending) * percent + 99) // 100) - 1]
