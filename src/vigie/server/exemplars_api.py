"""``/api/v1/query_exemplars``: the exemplars of the series a PromQL query selects.

As Prometheus does, the query is only parsed, not evaluated: every vector selector in it (inside
functions, aggregations, range selectors and subqueries too) names series, and the exemplars of
those series in ``[start, end]`` are returned, series sorted by labels. Grafana uses it to draw
exemplar dots on a latency panel and to link each one to its trace (``trace_id``).

Example (the ``data`` of the response)::

    [{"seriesLabels": {"__name__": "latency_seconds_bucket", "le": "0.5", "job": "api"},
      "exemplars": [{"labels": {"trace_id": "4bf92f..."}, "value": "0.31",
                     "timestamp": 1700000000.123}]}]
"""

from __future__ import annotations

from typing import Any

import promql_parser

from vigie.query.parser import parse_unchecked
from vigie.query.selectors import matchers_of
from vigie.store.exemplars import ExemplarStorage
from vigie.store.interface import Matcher

__all__ = ["exemplar_selectors", "query_exemplars"]


def exemplar_selectors(query: str) -> list[list[Matcher]]:
    """Matcher groups of every vector selector in ``query`` (Prometheus's ``ExtractSelectors``).

    Raises :class:`~vigie.exceptions.PromQLParseError` when the query does not parse.
    """
    tree = parse_unchecked(query)
    groups: list[list[Matcher]] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            groups.extend(matchers_of(node))
        return True

    promql_parser.walk(tree, visit)
    return groups


def query_exemplars(storage: object, query: str, mint: int, maxt: int) -> list[Any] | None:
    """The response ``data``: ``None`` for a query without selectors (Prometheus answers 204
    No Content); ``[]`` when the store keeps no exemplars."""
    from vigie.server.api import format_time, format_value

    groups = exemplar_selectors(query)
    if not groups:
        return None
    exemplars = getattr(storage, "exemplars", None)
    if not isinstance(exemplars, ExemplarStorage):
        return []
    return [
        {
            "seriesLabels": dict(labels),
            "exemplars": [
                {
                    "labels": dict(exemplar.labels),
                    "value": format_value(exemplar.value),
                    "timestamp": format_time(exemplar.timestamp_ms),
                }
                for exemplar in found
            ],
        }
        for labels, found in exemplars.select(groups, mint, maxt)
    ]
