"""The dashboards shipped with vigie, defined once: vigie's UI and the Grafana export draw them.

A dashboard is a list of rows of panels; a panel is a kind (``timeseries``, ``stat``, ``heatmap``,
``table``, ``gauge``), PromQL queries with their legends, a unit (Grafana's unit ids: ``s``,
``percentunit``, ``reqps``, ``currencyEUR``...) and optional thresholds. The queries use only the
metric names documented in docs/http.md, docs/ai.md, docs/infrastructure.md and the recording rules
of the AI rule pack, and only plain PromQL (no Grafana ``$__`` variables), so any Prometheus-
compatible engine can answer them. "Today" and "this month" are rolling windows (24 h, 30 d): a
calendar day depends on a time zone the query cannot know.

Example::

    >>> overview = ai_overview_dashboard()
    >>> overview.uid, overview.rows[0].title, overview.rows[0].panels[0].kind
    ('vigie-ai-overview', 'HTTP', 'timeseries')
    >>> [dashboard.uid for dashboard in builtin_dashboards()]
    ['vigie-ai-overview', 'vigie-infrastructure']
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "Dashboard",
    "Panel",
    "PanelKind",
    "Query",
    "Row",
    "Threshold",
    "ai_overview_dashboard",
    "builtin_dashboards",
    "infrastructure_dashboard",
]

PanelKind = Literal["timeseries", "stat", "heatmap", "table", "gauge"]


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel; ``legend`` is a template such as ``{{job}}``."""

    expr: str
    legend: str = ""
    #: Ask for the last value only (stat, gauge and table panels), not a range.
    instant: bool = False


@dataclass(frozen=True)
class Threshold:
    """From ``value`` upwards the panel turns ``color`` (None: the base color)."""

    value: float | None
    color: str


@dataclass(frozen=True)
class Panel:
    """One chart or figure; ``width`` is in 24ths of the screen, ``height`` in grid units."""

    title: str
    kind: PanelKind
    queries: tuple[Query, ...]
    unit: str = "short"
    description: str = ""
    thresholds: tuple[Threshold, ...] = ()
    width: int = 8
    height: int = 8


@dataclass(frozen=True)
class Row:
    """A titled band of panels; ``embedded_only`` rows read vigie's own self-monitoring series,
    which a production stack (Prometheus in vigie's place) does not have."""

    title: str
    panels: tuple[Panel, ...]
    embedded_only: bool = False


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: a stable ``uid`` (URLs and provisioning key on it), rows of panels."""

    title: str
    uid: str
    rows: tuple[Row, ...]
    description: str = ""
    tags: tuple[str, ...] = ("vigie",)
    refresh: str = "30s"

    def panels(self) -> list[Panel]:
        """Every panel, row by row."""
        return [panel for row in self.rows for panel in row.panels]

    def for_production(self) -> Dashboard:
        """This dashboard without its ``embedded_only`` rows, for the exported Grafana stack.

        >>> [row.title for row in infrastructure_dashboard().for_production().rows][-1]
        'Redis'
        """
        return replace(self, rows=tuple(row for row in self.rows if not row.embedded_only))


_OK = Threshold(None, "green")


def _ratio_thresholds(warning: float, critical: float) -> tuple[Threshold, ...]:
    return (_OK, Threshold(warning, "orange"), Threshold(critical, "red"))


def _quantiles(metric: str, by: str, legend: str) -> tuple[Query, ...]:
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({by}le) (rate({metric}_bucket[5m])))",
            f"p{round(q * 100)}{legend}",
        )
        for q in (0.5, 0.95, 0.99)
    )


def _http_row() -> Row:
    return Row(
        "HTTP",
        (
            Panel(
                "Request rate",
                "timeseries",
                (
                    Query(
                        "sum by (job) (rate(http_server_request_duration_seconds_count[5m]))",
                        "{{job}}",
                    ),
                ),
                unit="reqps",
                description="Requests per second handled by each service.",
            ),
            Panel(
                "Error ratio (5xx)",
                "timeseries",
                (Query("job:http_server_errors:ratio_rate5m", "{{job}}"),),
                unit="percentunit",
                description="Share of responses with a 5xx status (AI pack recording rule).",
                thresholds=_ratio_thresholds(0.05, 0.1),
            ),
            Panel(
                "Latency p50 / p95 / p99",
                "timeseries",
                _quantiles("http_server_request_duration_seconds", "", ""),
                unit="s",
                description="Time to the last byte of the response, all routes.",
            ),
            Panel(
                "Requests in flight",
                "timeseries",
                (Query("sum by (job) (http_server_active_requests)", "{{job}}"),),
                description="Requests being handled right now.",
            ),
        ),
    )


def _llm_row() -> Row:
    cost = 'sum(increase(gen_ai_client_cost_total{{currency="{currency}"}}[{window}]))'
    spend = tuple(
        Panel(
            f"LLM spend, {label} ({currency})",
            "stat",
            (Query(cost.format(currency=currency, window=window), currency, instant=True),),
            unit=f"currency{currency}",
            description=f"Cost of LLM calls over the {label} (rolling window).",
            width=6,
            height=5,
        )
        for label, window in (("last 24 h", "1d"), ("last 30 days", "30d"))
        for currency in ("EUR", "USD")
    )
    by_model = "gen_ai_request_model, "
    return Row(
        "LLM",
        (
            *spend,
            Panel(
                "Tokens per minute",
                "timeseries",
                (
                    Query(
                        "60 * sum by (gen_ai_request_model, gen_ai_token_type) "
                        "(rate(gen_ai_client_tokens_total[5m]))",
                        "{{gen_ai_request_model}} {{gen_ai_token_type}}",
                    ),
                ),
                description="Input and output tokens per minute, by model.",
            ),
            Panel(
                "LLM latency p50 / p95 / p99 by model",
                "timeseries",
                _quantiles(
                    "gen_ai_client_operation_duration_seconds",
                    by_model,
                    " {{gen_ai_request_model}}",
                ),
                unit="s",
                description="Duration of LLM calls, by requested model.",
            ),
            Panel(
                "Time to first token p95 by model",
                "timeseries",
                (
                    Query(
                        "histogram_quantile(0.95, sum by (gen_ai_request_model, le) "
                        "(rate(gen_ai_client_operation_time_to_first_chunk_seconds_bucket[5m])))",
                        "{{gen_ai_request_model}}",
                    ),
                ),
                unit="s",
                description="Streaming calls: time until the first chunk arrived.",
            ),
            Panel(
                "LLM errors by kind",
                "timeseries",
                (
                    Query(
                        'sum by (error_type) (rate(gen_ai_client_requests_total{outcome!="success"}'
                        "[5m]))",
                        "{{error_type}}",
                    ),
                ),
                unit="reqps",
                description="Failed and incomplete LLM calls per second, by error type.",
            ),
        ),
    )


def _retrieval_row() -> Row:
    return Row(
        "Retrieval",
        (
            Panel(
                "Retrieval latency p50 / p95 / p99",
                "timeseries",
                _quantiles("retrieval_search_duration_seconds", "", ""),
                unit="s",
                description="Vector search duration, all retrievers.",
            ),
            Panel(
                "Empty results",
                "timeseries",
                (
                    Query(
                        "sum by (retriever) (rate(retrieval_empty_results_total[5m])) / "
                        "sum by (retriever) (rate(retrieval_searches_total[5m]))",
                        "{{retriever}}",
                    ),
                ),
                unit="percentunit",
                description="Share of searches that returned nothing.",
                thresholds=_ratio_thresholds(0.2, 0.5),
            ),
        ),
    )


def _quality_row() -> Row:
    return Row(
        "Quality",
        (
            Panel(
                "Confidence distribution",
                "heatmap",
                (Query("sum by (le) (rate(ml_prediction_confidence_bucket[5m]))", "{{le}}"),),
                description="How confident the model's predictions are, over time.",
            ),
            Panel(
                "Low-confidence share",
                "timeseries",
                (
                    Query(
                        "sum by (model) (rate(ml_low_confidence_predictions_total[15m])) / "
                        "sum by (model) (rate(ml_predictions_total[15m]))",
                        "{{model}}",
                    ),
                ),
                unit="percentunit",
                description="Predictions below the confidence threshold.",
                thresholds=_ratio_thresholds(0.3, 0.5),
            ),
            Panel(
                "User satisfaction",
                "gauge",
                (
                    Query(
                        'sum(rate(user_feedback_total{rating=~"up|4|5"}[1h])) / '
                        "sum(rate(user_feedback_total[1h]))",
                        "satisfied",
                        instant=True,
                    ),
                ),
                unit="percentunit",
                description="Share of positive ratings (thumbs up, 4 or 5) over the last hour.",
                thresholds=(
                    Threshold(None, "red"),
                    Threshold(0.5, "orange"),
                    Threshold(0.7, "green"),
                ),
            ),
        ),
    )


def _health_row() -> Row:
    return Row(
        "Health",
        (
            Panel(
                "Targets up",
                "table",
                (Query("up", "{{job}} {{instance}}", instant=True),),
                description="Every scraped target: 1 when its last scrape succeeded.",
                thresholds=(Threshold(None, "red"), Threshold(1, "green")),
                width=16,
            ),
            Panel(
                "Active alerts",
                "stat",
                (Query('count(ALERTS{alertstate="firing"}) or vector(0)', "firing", instant=True),),
                description="Alerts firing now.",
                thresholds=(_OK, Threshold(1, "red")),
            ),
        ),
    )


def ai_overview_dashboard() -> Dashboard:
    """HTTP, LLM cost and latency, retrieval, answer quality, feedback, targets and alerts."""
    return Dashboard(
        "vigie / AI service overview",
        "vigie-ai-overview",
        (_http_row(), _llm_row(), _retrieval_row(), _quality_row(), _health_row()),
        description="The AI service at a glance: traffic, LLM cost, retrieval, quality.",
        tags=("vigie", "ai"),
    )


def infrastructure_dashboard() -> Dashboard:
    """Host, apps (memory, authentication), PostgreSQL, database pools, Redis, vigie itself."""
    host = Row(
        "Host",
        (
            Panel(
                "CPU busy",
                "timeseries",
                (
                    Query(
                        '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))',
                        "{{instance}}",
                    ),
                ),
                unit="percentunit",
                thresholds=_ratio_thresholds(0.8, 0.9),
            ),
            Panel(
                "Memory used",
                "timeseries",
                (
                    Query(
                        "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
                        "{{instance}}",
                    ),
                ),
                unit="percentunit",
                thresholds=_ratio_thresholds(0.8, 0.9),
            ),
            Panel(
                "Disk space used",
                "gauge",
                (
                    Query(
                        '1 - node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs"} / '
                        'node_filesystem_size_bytes{fstype!~"tmpfs|ramfs"}',
                        "{{mountpoint}}",
                        instant=True,
                    ),
                ),
                unit="percentunit",
                thresholds=_ratio_thresholds(0.8, 0.95),
            ),
            Panel(
                "Network errors",
                "timeseries",
                (
                    Query(
                        "rate(node_network_receive_errs_total[5m]) + "
                        "rate(node_network_transmit_errs_total[5m])",
                        "{{device}}",
                    ),
                ),
                unit="pps",
            ),
            Panel(
                "Load per CPU",
                "timeseries",
                (
                    Query(
                        "max by (instance) (node_load1) / "
                        'count by (instance) (node_cpu_seconds_total{mode="idle"})',
                        "{{instance}}",
                    ),
                ),
                thresholds=_ratio_thresholds(1, 2),
            ),
            Panel(
                "Swap used",
                "timeseries",
                (
                    Query(
                        "(node_memory_SwapTotal_bytes - node_memory_SwapFree_bytes) / "
                        "(node_memory_SwapTotal_bytes > 0)",
                        "{{instance}}",
                    ),
                ),
                unit="percentunit",
                description="Empty on a host without swap.",
                thresholds=_ratio_thresholds(0.5, 0.8),
            ),
            Panel(
                "File descriptors used",
                "timeseries",
                (Query("node_filefd_allocated / node_filefd_maximum", "{{instance}}"),),
                unit="percentunit",
                thresholds=_ratio_thresholds(0.8, 0.9),
            ),
        ),
    )
    apps = Row(
        "Apps: processes and authentication",
        (
            Panel(
                "Resident memory",
                "timeseries",
                (Query("process_resident_memory_bytes", "{{job}} {{instance}}"),),
                unit="bytes",
            ),
            Panel(
                "Authentication failures per minute",
                "timeseries",
                (
                    Query(
                        "60 * sum by (job, reason) (rate(vigie_auth_failures_total[5m]))",
                        "{{job}} {{reason}}",
                    ),
                ),
                unit="short",
                thresholds=(_OK, Threshold(10, "orange"), Threshold(50, "red")),
            ),
            Panel(
                "401 and 403 per minute, by route",
                "timeseries",
                (
                    Query(
                        "60 * sum by (job, http_route, http_response_status_code) "
                        "(rate(http_server_request_duration_seconds_count"
                        '{http_response_status_code=~"401|403"}[5m]))',
                        "{{http_route}} {{http_response_status_code}}",
                    ),
                ),
                unit="short",
            ),
        ),
    )
    vigie_itself = Row(
        "vigie itself",
        (
            Panel(
                "Scrape duration p95",
                "timeseries",
                (
                    Query(
                        "histogram_quantile(0.95, sum by (le, scrape_job) "
                        "(rate(vigie_scrape_duration_seconds_bucket[5m])))",
                        "{{scrape_job}}",
                    ),
                ),
                unit="s",
                width=6,
            ),
            Panel(
                "Rule evaluation failures",
                "timeseries",
                (
                    Query(
                        "sum by (rule_group) (increase(vigie_rule_evaluation_failures_total[5m]))",
                        "{{rule_group}}",
                    ),
                ),
                width=6,
            ),
            Panel(
                "Notification queue",
                "timeseries",
                (Query("vigie_notification_queue_length", "{{state}}"),),
                width=6,
            ),
            Panel(
                "OTLP records refused",
                "timeseries",
                (
                    Query(
                        "sum by (signal) (rate(vigie_otlp_records_refused_total[5m]))",
                        "{{signal}}",
                    ),
                ),
                unit="ops",
                width=6,
            ),
        ),
        embedded_only=True,
    )
    postgres = Row(
        "PostgreSQL",
        (
            Panel(
                "PostgreSQL up",
                "stat",
                (Query("pg_up", "{{server}}", instant=True),),
                thresholds=(Threshold(None, "red"), Threshold(1, "green")),
                width=4,
            ),
            Panel(
                "Connections vs limit",
                "timeseries",
                (
                    Query(
                        "sum by (server) (pg_stat_activity_count) / on(server) "
                        "pg_settings_max_connections",
                        "{{server}}",
                    ),
                ),
                unit="percentunit",
                thresholds=_ratio_thresholds(0.8, 0.95),
                width=10,
            ),
            Panel(
                "Transactions per second",
                "timeseries",
                (
                    Query(
                        "sum by (datname) (rate(pg_stat_database_xact_commit[5m]))",
                        "commit {{datname}}",
                    ),
                    Query(
                        "sum by (datname) (rate(pg_stat_database_xact_rollback[5m]))",
                        "rollback {{datname}}",
                    ),
                ),
                unit="ops",
                width=10,
            ),
            Panel(
                "Cache hit ratio",
                "timeseries",
                (
                    Query(
                        "rate(pg_stat_database_blks_hit[5m]) / (rate(pg_stat_database_blks_hit"
                        "[5m]) + rate(pg_stat_database_blks_read[5m]))",
                        "{{datname}}",
                    ),
                ),
                unit="percentunit",
            ),
            Panel(
                "Deadlocks",
                "timeseries",
                (Query("increase(pg_stat_database_deadlocks[10m])", "{{datname}}"),),
            ),
            Panel(
                "Database size",
                "table",
                (Query("pg_database_size_bytes", "{{datname}}", instant=True),),
                unit="bytes",
            ),
        ),
    )
    pool = Row(
        "Database pool (app)",
        (
            Panel(
                "Pool usage",
                "timeseries",
                (
                    Query(
                        'sum by (job, pool_name) (db_client_connections_usage{state="used"}) / '
                        "sum by (job, pool_name) (db_client_connections_max)",
                        "{{job}} {{pool_name}}",
                    ),
                ),
                unit="percentunit",
                thresholds=_ratio_thresholds(0.8, 0.95),
            ),
            Panel(
                "Pool timeouts",
                "timeseries",
                (
                    Query(
                        "sum by (pool_name) (increase(db_client_connections_timeouts_total[5m]))",
                        "{{pool_name}}",
                    ),
                ),
            ),
            Panel(
                "Query latency p95",
                "timeseries",
                (
                    Query(
                        "histogram_quantile(0.95, sum by (le, pool_name, db_operation_name) "
                        '(rate(db_client_operation_duration_seconds_bucket{db_system_name!="redis"}'
                        "[5m])))",
                        "{{pool_name}} {{db_operation_name}}",
                    ),
                ),
                unit="s",
            ),
        ),
    )
    redis = Row(
        "Redis",
        (
            Panel(
                "Commands per second",
                "timeseries",
                (
                    Query(
                        "sum by (db_operation_name) "
                        "(rate(db_client_operation_duration_seconds_count"
                        '{db_system_name="redis"}[5m]))',
                        "{{db_operation_name}}",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                "Command errors",
                "timeseries",
                (
                    Query(
                        "sum by (pool_name) (rate(db_client_operation_duration_seconds_count"
                        '{db_system_name="redis", error_type!=""}[5m]))',
                        "{{pool_name}}",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                "Command latency p95",
                "timeseries",
                (
                    Query(
                        "histogram_quantile(0.95, sum by (le, db_operation_name) "
                        "(rate(db_client_operation_duration_seconds_bucket"
                        '{db_system_name="redis"}[5m])))',
                        "{{db_operation_name}}",
                    ),
                ),
                unit="s",
            ),
        ),
    )
    return Dashboard(
        "vigie / Infrastructure",
        "vigie-infrastructure",
        (host, apps, postgres, pool, redis, vigie_itself),
        description="The host, the apps' processes and authentication, PostgreSQL, the app's "
        "connection pools, Redis, and vigie itself.",
        tags=("vigie", "infrastructure"),
    )


def builtin_dashboards() -> list[Dashboard]:
    """Every dashboard vigie ships, in menu order."""
    return [ai_overview_dashboard(), infrastructure_dashboard()]
