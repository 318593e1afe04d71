"""The shipped dashboards: valid PromQL over documented metric names, every asked-for panel."""

from __future__ import annotations

from typing import Any

import promql_parser
import pytest
import yaml

from support import REPO_ROOT
from vigie.rules.packs.ai import render_ai_pack
from vigie.rules.packs.dashboards import (
    Dashboard,
    ai_overview_dashboard,
    builtin_dashboards,
    infrastructure_dashboard,
)

_DOCS = ("http.md", "ai.md", "infrastructure.md", "ai-rule-pack.md")


def _metric_names(node: Any) -> set[str]:
    """Metric names selected anywhere in a parsed expression."""
    if isinstance(node, promql_parser.VectorSelector):
        return {node.name} if node.name else set()
    if isinstance(node, promql_parser.MatrixSelector):
        return _metric_names(node.vector_selector)
    children: list[Any] = []
    for attribute in ("lhs", "rhs", "expr", "param"):
        children.append(getattr(node, attribute, None))
    children += list(getattr(node, "args", None) or [])
    return set().union(*(_metric_names(child) for child in children if child is not None))


def _documented() -> str:
    text = "".join((REPO_ROOT / "docs" / name).read_text(encoding="utf-8") for name in _DOCS)
    return text + render_ai_pack()


@pytest.mark.parametrize("dashboard", builtin_dashboards(), ids=lambda item: item.uid)
def test_queries_parse_and_use_documented_metrics(dashboard: Dashboard) -> None:
    """Every query is valid PromQL and every metric it reads is documented or recorded."""
    documented = _documented()
    for panel in dashboard.panels():
        assert panel.queries, panel.title
        for query in panel.queries:
            names = _metric_names(promql_parser.parse(query.expr))
            for name in names:
                base = name.removesuffix("_bucket").removesuffix("_count")
                assert name in documented or base in documented or name in {"up", "ALERTS"}, (
                    f"{panel.title}: {name} is not documented"
                )


def test_ai_overview_has_the_promised_panels() -> None:
    """HTTP, LLM spend in EUR and USD, tokens, LLM latency and TTFT, retrieval, quality, health."""
    titles = [panel.title for panel in ai_overview_dashboard().panels()]
    for expected in (
        "Request rate", "Error ratio (5xx)", "Latency p50 / p95 / p99", "Requests in flight",
        "LLM spend, last 24 h (EUR)", "LLM spend, last 24 h (USD)",
        "LLM spend, last 30 days (EUR)", "LLM spend, last 30 days (USD)", "Tokens per minute",
        "LLM latency p50 / p95 / p99 by model", "Time to first token p95 by model",
        "LLM errors by kind", "Retrieval latency p50 / p95 / p99", "Empty results",
        "Confidence distribution", "Low-confidence share", "User satisfaction", "Targets up",
        "Active alerts",
    ):  # fmt: skip
        assert expected in titles
    kinds = {panel.kind for panel in ai_overview_dashboard().panels()}
    assert kinds == {"timeseries", "stat", "heatmap", "table", "gauge"}


def test_infrastructure_rows() -> None:
    """The infrastructure dashboard covers host, apps, PostgreSQL, the pool, Redis and vigie."""
    dashboard = infrastructure_dashboard()
    rows = [row.title for row in dashboard.rows]
    assert rows == [
        "Host",
        "Apps: processes and authentication",
        "PostgreSQL",
        "Database pool (app)",
        "Redis",
        "vigie itself",
    ]
    panels = {panel.title: panel for panel in dashboard.panels()}
    # The thresholds: memory 80/90 %, pool 80/95 %, auth failures 10/50 per minute.
    assert [t.value for t in panels["Memory used"].thresholds] == [None, 0.8, 0.9]
    assert [t.value for t in panels["Pool usage"].thresholds] == [None, 0.8, 0.95]
    auth = panels["Authentication failures per minute"]
    assert [t.value for t in auth.thresholds] == [None, 10, 50]


def test_spend_reads_the_right_currency() -> None:
    """The EUR and USD spend panels select their currency label."""
    spend = {p.title: p for p in ai_overview_dashboard().panels() if "spend" in p.title}
    eur = spend["LLM spend, last 24 h (EUR)"]
    assert eur.queries[0].expr == 'sum(increase(gen_ai_client_cost_total{currency="EUR"}[1d]))'
    assert eur.unit == "currencyEUR"
    assert eur.queries[0].instant


def test_uids_unique_and_widths_fit() -> None:
    """Dashboard uids are unique; no row is wider than the 24-column grid needs to wrap badly."""
    dashboards = builtin_dashboards()
    assert len({dashboard.uid for dashboard in dashboards}) == len(dashboards)
    for dashboard in dashboards:
        for panel in dashboard.panels():
            assert 1 <= panel.width <= 24
            assert panel.height >= 3
    assert yaml.safe_load(render_ai_pack())["groups"]
