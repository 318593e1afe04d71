"""The AI rule pack: recording and alerting rules for an LLM, RAG or ML service, with runbooks.

Every alert escalates from ``severity: warning`` to ``severity: critical`` under the same name
(route on ``severity``, and inhibit the warning while the critical fires), carries a ``summary``,
a ``description`` and a ``runbook_url`` pointing at the runbook served by vigie's UI (the markdown
files beside this module). Thresholds are parameters with the defaults below; the rendered file is
a plain Prometheus rule file, so it runs unchanged on Prometheus.

Example::

    >>> text = render_ai_pack(AIPackThresholds(llm_daily_spend_eur=(20, 40)))
    >>> "gen_ai_client_cost_total" in text
    True
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

__all__ = ["AIPackThresholds", "ai_pack_groups", "render_ai_pack", "runbook", "runbook_names"]

_HTTP_COUNT = "http_server_request_duration_seconds_count"
_SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


@dataclass(frozen=True)
class AIPackThresholds:
    """Thresholds of the pack: (warning, critical) pairs unless said otherwise."""

    http_error_ratio: tuple[float, float] = (0.05, 0.10)
    http_p95_seconds: tuple[float, float] = (1.0, 3.0)
    llm_error_ratio: tuple[float, float] = (0.10, 0.25)
    llm_p95_seconds: tuple[float, float] = (3.0, 10.0)
    llm_ttft_p95_seconds: tuple[float, float] = (2.0, 5.0)
    llm_daily_spend_eur: tuple[float, float] = (50.0, 100.0)
    llm_tokens_per_minute: tuple[float, float] = (1000.0, 2000.0)
    retrieval_p95_seconds: tuple[float, float] = (0.5, 1.5)
    retrieval_empty_ratio: tuple[float, float] = (0.2, 0.5)
    low_confidence_share: tuple[float, float] = (0.3, 0.5)
    negative_feedback_ratio: tuple[float, float] = (0.3, 0.5)
    drift_share: float = 0.5
    auth_failures_per_minute: tuple[float, float] = (10.0, 50.0)
    memory_ratio: tuple[float, float] = (0.8, 0.9)
    db_pool_usage_ratio: tuple[float, float] = (0.8, 0.95)
    cache_error_ratio: tuple[float, float] = (0.05, 0.2)
    availability_objective: float = 0.999
    latency_objective: float = 0.99
    latency_objective_seconds: float = 1.0
    runbook_base_url: str = "{{ $externalURL }}/runbooks"


def _alert(
    name: str,
    expr: str,
    severity: str,
    summary: str,
    description: str,
    thresholds: AIPackThresholds,
    duration: str = "5m",
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if duration != "0s":
        rule["for"] = duration
    rule["labels"] = {"severity": severity}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": f"{thresholds.runbook_base_url}/{name}",
    }
    return rule


def _escalating(
    name: str,
    template: str,
    pair: tuple[float, float],
    summary: str,
    description: str,
    thresholds: AIPackThresholds,
    duration: str = "5m",
) -> list[dict[str, Any]]:
    """Two rules of one alert: ``template`` formatted with the warning, then critical threshold."""
    return [
        _alert(name, template.format(t=value), severity, summary, description, thresholds, duration)
        for severity, value in zip(("warning", "critical"), pair, strict=True)
    ]


def _record(name: str, expr: str) -> dict[str, Any]:
    return {"record": name, "expr": expr}


def _ratio(numerator: str, denominator: str, by: str, window: str) -> str:
    return (
        f"sum by ({by}) (rate({numerator}[{window}]))\n/\n"
        f"sum by ({by}) (rate({denominator}[{window}]))"
    )


def ai_pack_groups(
    thresholds: AIPackThresholds | None = None, *, time_scale: float = 1.0
) -> list[dict[str, Any]]:
    """The rule groups of the pack, as Prometheus rule-file data.

    ``time_scale`` > 1 compresses time for demos and drills: every ``for`` duration and every
    range window is divided by it (``time_scale=20``: ``[5m]`` becomes ``[15s]``, ``for: 15m``
    becomes ``for: 45s``). Record names keep their nominal window (``..._rate5m``). Never use
    it in production: short windows make alerts flap.
    """
    groups = _groups(thresholds or AIPackThresholds())
    if time_scale != 1.0:
        _compress(groups, time_scale)
    return groups


_RANGE = re.compile(r"\[(\d+[smhdwy])\]")
_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
             "y": 31_536_000_000}  # fmt: skip


def _scaled(duration: str, time_scale: float) -> str:
    """``duration`` (one unit, as the pack writes them) divided by ``time_scale``."""
    milliseconds = int(duration[:-1]) * _UNITS_MS[duration[-1]]
    scaled = max(round(milliseconds / time_scale), 1)
    for unit in ("h", "m", "s"):
        if scaled % _UNITS_MS[unit] == 0:
            return f"{scaled // _UNITS_MS[unit]}{unit}"
    return f"{scaled}ms"


def _compress(groups: list[dict[str, Any]], time_scale: float) -> None:
    if not time_scale > 0:
        raise ValueError(f"time_scale must be > 0, got {time_scale}")
    for group in groups:
        for rule in group["rules"]:
            rule["expr"] = _RANGE.sub(
                lambda match: f"[{_scaled(match.group(1), time_scale)}]", rule["expr"]
            )
            if "for" in rule:
                rule["for"] = _scaled(rule["for"], time_scale)


def _groups(t: AIPackThresholds) -> list[dict[str, Any]]:
    pct = "{{ $value | humanizePercentage }}"
    secs = "{{ $value | humanizeDuration }}"
    http_errors = f'{_HTTP_COUNT}{{http_response_status_code=~"5.."}}'
    llm_by = "job, gen_ai_provider_name, gen_ai_request_model"
    http_group = {
        "name": "vigie-ai-http",
        "rules": [
            _record("job:http_server_requests:rate5m", f"sum by (job) (rate({_HTTP_COUNT}[5m]))"),
            _record(
                "job:http_server_errors:ratio_rate5m", _ratio(http_errors, _HTTP_COUNT, "job", "5m")
            ),
            _record(
                "job:http_server_request_duration_seconds:p95_5m",
                "histogram_quantile(0.95, sum by (job, le) "
                "(rate(http_server_request_duration_seconds_bucket[5m])))",
            ),
            _alert(
                "TargetDown",
                "up == 0",
                "critical",
                "{{ $labels.job }} target {{ $labels.instance }} is down",
                "vigie could not scrape {{ $labels.instance }} for 1 minute.",
                t,
                "1m",
            ),
            _alert(
                "HealthCheckFailing",
                "min by (job, instance, check) (vigie_health_check_status) == 0",
                "critical",
                "{{ $labels.job }}: health check {{ $labels.check }} fails",
                "The {{ $labels.check }} check of {{ $labels.instance }} has failed for 1 minute;"
                " its /health message names the cause.",
                t,
                "1m",
            ),
            *_escalating(
                "HTTPErrorRatioHigh",
                "job:http_server_errors:ratio_rate5m > {t}",
                t.http_error_ratio,
                f"{{{{ $labels.job }}}}: {pct} of requests fail with 5xx",
                "More than the threshold of HTTP requests answered with a server error over 5m.",
                t,
            ),
            *_escalating(
                "HTTPLatencyP95High",
                "job:http_server_request_duration_seconds:p95_5m > {t}",
                t.http_p95_seconds,
                f"{{{{ $labels.job }}}}: p95 latency is {secs}",
                "The 95th percentile of HTTP request duration is above the threshold.",
                t,
            ),
        ],
    }
    llm_group = {
        "name": "vigie-ai-llm",
        "rules": [
            _record(
                "job:gen_ai_client_requests:error_ratio_rate5m",
                _ratio(
                    'gen_ai_client_requests_total{outcome="error"}',
                    "gen_ai_client_requests_total",
                    llm_by,
                    "5m",
                ),
            ),
            _record(
                "job:gen_ai_client_operation_duration_seconds:p95_5m",
                f"histogram_quantile(0.95, sum by ({llm_by}, le) "
                "(rate(gen_ai_client_operation_duration_seconds_bucket[5m])))",
            ),
            _record(
                "job:gen_ai_client_time_to_first_chunk_seconds:p95_5m",
                f"histogram_quantile(0.95, sum by ({llm_by}, le) "
                "(rate(gen_ai_client_operation_time_to_first_chunk_seconds_bucket[5m])))",
            ),
            _record(
                "job:gen_ai_client_cost_eur:increase1d",
                'sum by (job) (increase(gen_ai_client_cost_total{currency="EUR"}[1d]))',
            ),
            _record(
                "job:gen_ai_client_tokens:per_minute",
                "60 * sum by (job) "
                '(rate(gen_ai_client_tokens_total{gen_ai_token_type=~"input|output"}[5m]))',
            ),
            *_escalating(
                "LLMErrorRatioHigh",
                "job:gen_ai_client_requests:error_ratio_rate5m > {t}",
                t.llm_error_ratio,
                f"{{{{ $labels.gen_ai_request_model }}}}: {pct} of LLM calls fail",
                "LLM calls to {{ $labels.gen_ai_provider_name }} fail above the threshold "
                "(rate limits, timeouts, server errors).",
                t,
            ),
            *_escalating(
                "LLMLatencyP95High",
                "job:gen_ai_client_operation_duration_seconds:p95_5m > {t}",
                t.llm_p95_seconds,
                f"{{{{ $labels.gen_ai_request_model }}}}: LLM p95 latency is {secs}",
                "The 95th percentile of LLM call duration is above the threshold.",
                t,
            ),
            *_escalating(
                "LLMTimeToFirstTokenHigh",
                "job:gen_ai_client_time_to_first_chunk_seconds:p95_5m > {t}",
                t.llm_ttft_p95_seconds,
                f"{{{{ $labels.gen_ai_request_model }}}}: time to first token p95 is {secs}",
                "Users wait too long before a streamed answer starts.",
                t,
            ),
            *_escalating(
                "LLMDailySpendHigh",
                "job:gen_ai_client_cost_eur:increase1d > {t}",
                t.llm_daily_spend_eur,
                '{{ $labels.job }}: LLM spend over 24h is {{ $value | printf "%.2f" }} EUR',
                "Money spent on LLM calls over the last 24 hours is above the budget.",
                t,
                "0s",
            ),
            *_escalating(
                "LLMTokenRateHigh",
                "job:gen_ai_client_tokens:per_minute > {t}",
                t.llm_tokens_per_minute,
                "{{ $labels.job }}: {{ $value | humanize }} tokens per minute",
                "Token consumption is above the threshold: a loop, a prompt blow-up or abuse.",
                t,
                "10m",
            ),
            _alert(
                "LLMCallsUnpriced",
                "sum by (job, gen_ai_request_model, reason) "
                "(increase(gen_ai_client_cost_unpriced_total[1h])) > 0",
                "warning",
                "{{ $labels.gen_ai_request_model }}: LLM calls with unknown cost",
                "vigie could not price some calls ({{ $labels.reason }}); spend is under-reported.",
                t,
                "0s",
            ),
        ],
    }
    retrieval_by = "job, retriever"
    retrieval_group = {
        "name": "vigie-ai-retrieval",
        "rules": [
            _record(
                "job:retrieval_search_duration_seconds:p95_5m",
                f"histogram_quantile(0.95, sum by ({retrieval_by}, le) "
                "(rate(retrieval_search_duration_seconds_bucket[5m])))",
            ),
            _record(
                "job:retrieval_empty_results:ratio_rate15m",
                _ratio(
                    "retrieval_empty_results_total",
                    "retrieval_searches_total",
                    retrieval_by,
                    "15m",
                ),
            ),
            *_escalating(
                "RetrievalLatencyP95High",
                "job:retrieval_search_duration_seconds:p95_5m > {t}",
                t.retrieval_p95_seconds,
                f"{{{{ $labels.retriever }}}}: retrieval p95 latency is {secs}",
                "Vector searches are slow; answers wait on retrieval.",
                t,
            ),
            *_escalating(
                "RetrievalEmptyResultsHigh",
                "job:retrieval_empty_results:ratio_rate15m > {t}",
                t.retrieval_empty_ratio,
                f"{{{{ $labels.retriever }}}}: {pct} of searches return nothing",
                "Many searches find no document: an empty or stale index, or off-topic questions.",
                t,
                "15m",
            ),
        ],
    }
    quality_group = {
        "name": "vigie-ai-quality",
        "rules": [
            _record(
                "job:ml_low_confidence:ratio_rate15m",
                _ratio(
                    "ml_low_confidence_predictions_total",
                    "ml_predictions_total",
                    "job, model",
                    "15m",
                ),
            ),
            _record(
                "job:user_feedback_negative:ratio_rate1h",
                _ratio(
                    'user_feedback_total{rating=~"down|1|2"}',
                    "user_feedback_total",
                    "job, target",
                    "1h",
                ),
            ),
            *_escalating(
                "LowConfidenceShareHigh",
                "job:ml_low_confidence:ratio_rate15m > {t}",
                t.low_confidence_share,
                f"{{{{ $labels.model }}}}: {pct} of predictions are low-confidence",
                "The model is unsure of many answers: inputs may have shifted.",
                t,
                "15m",
            ),
            *_escalating(
                "NegativeFeedbackRatioHigh",
                "job:user_feedback_negative:ratio_rate1h > {t}",
                t.negative_feedback_ratio,
                f"{{{{ $labels.target }}}}: {pct} of feedback is negative",
                "Users dislike a growing share of answers.",
                t,
                "15m",
            ),
            _alert(
                "DriftDetected",
                "max by (job, model, feature) (vigie_drift_detected) > 0",
                "warning",
                "{{ $labels.model }}: feature {{ $labels.feature }} drifted",
                "The current distribution of the feature differs from its reference window.",
                t,
                "15m",
            ),
            _alert(
                "DriftDetected",
                f"max by (job, model) (vigie_drift_share) > {t.drift_share}",
                "critical",
                f"{{{{ $labels.model }}}}: {pct} of features drifted",
                "Most input features of the model drifted: the model works out of its domain.",
                t,
                "15m",
            ),
        ],
    }
    infra_group = {
        "name": "vigie-ai-infrastructure",
        "rules": [
            _record(
                "job:vigie_auth_failures:per_minute",
                "60 * sum by (job) (rate(vigie_auth_failures_total[5m]))",
            ),
            _record(
                "job:http_auth_rejections:per_minute",
                f"60 * sum by (job) "
                f'(rate({_HTTP_COUNT}{{http_response_status_code=~"401|403"}}[5m]))',
            ),
            *_escalating(
                "AuthFailureRateHigh",
                "job:vigie_auth_failures:per_minute > {t}"
                " or job:http_auth_rejections:per_minute > {t}",
                t.auth_failures_per_minute,
                "{{ $labels.job }}: {{ $value | humanize }} authentication failures per minute",
                "A burst of failed logins or rejected tokens: brute force, or a broken client.",
                t,
                "2m",
            ),
            *_escalating(
                "ProcessMemoryHigh",
                "process_resident_memory_bytes / on() group_left() "
                "max(node_memory_MemTotal_bytes) > {t}",
                t.memory_ratio,
                f"{{{{ $labels.job }}}} {{{{ $labels.instance }}}} uses {pct} of the host memory",
                "The process's resident memory is a large share of the host's memory.",
                t,
            ),
            *_escalating(
                "HostMemoryHigh",
                "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes > {t}",
                t.memory_ratio,
                f"{{{{ $labels.instance }}}}: {pct} of memory in use",
                "Little memory is left on the host.",
                t,
            ),
            *_escalating(
                "DatabasePoolSaturated",
                'sum by (job, pool_name) (db_client_connections_usage{{state="used"}}) / '
                "sum by (job, pool_name) (db_client_connections_max) > {t}",
                t.db_pool_usage_ratio,
                f"{{{{ $labels.pool_name }}}}: {pct} of the connection pool in use",
                "Requests will soon wait for a database connection.",
                t,
            ),
            _record(
                "job:cache_operation_errors:ratio_rate5m",
                _ratio(
                    'db_client_operation_duration_seconds_count{db_system_name="redis",'
                    ' error_type!=""}',
                    'db_client_operation_duration_seconds_count{db_system_name="redis"}',
                    "job, pool_name",
                    "5m",
                ),
            ),
            *_escalating(
                "CacheErrorRatioHigh",
                "job:cache_operation_errors:ratio_rate5m > {t}",
                t.cache_error_ratio,
                f"{{{{ $labels.pool_name }}}}: {pct} of cache operations fail",
                "Redis commands fail (connection, timeout or server errors): "
                "answers lose their cache.",
                t,
            ),
            _alert(
                "DatabaseDown",
                "pg_up == 0",
                "critical",
                "PostgreSQL {{ $labels.instance }} is unreachable",
                "The database collector cannot connect.",
                t,
                "1m",
            ),
            _alert(
                "DiskWillFillIn24h",
                'predict_linear(node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs"}[6h], 86400) < 0'
                ' and node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs"}'
                ' / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs"} < 0.2',
                "warning",
                "{{ $labels.mountpoint }} will be full within 24 hours",
                "At the rate of the last 6 hours the filesystem runs out of space within a day.",
                t,
                "30m",
            ),
            _alert(
                "DiskWillFillIn24h",
                'node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs"}'
                ' / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs"} < 0.05',
                "critical",
                "{{ $labels.mountpoint }} has less than 5% space left",
                "The filesystem is almost full.",
                t,
                "5m",
            ),
        ],
    }
    slo_rules: list[dict[str, Any]] = []
    le = _le_regex(t.latency_objective_seconds).replace("\\", "\\\\")
    fast = f'http_server_request_duration_seconds_bucket{{le=~"{le}"}}'
    for window in _SLO_WINDOWS:
        slo_rules.append(
            _record(
                f"job:slo_availability_errors:ratio_rate{window}",
                _ratio(http_errors, _HTTP_COUNT, "job", window),
            )
        )
        slo_rules.append(
            _record(
                f"job:slo_latency_slow:ratio_rate{window}",
                f"1 - (\n{_ratio(fast, _HTTP_COUNT, 'job', window)}\n)",
            )
        )
    for slo, budget in (
        ("availability_errors", 1 - t.availability_objective),
        ("latency_slow", 1 - t.latency_objective),
    ):
        name = (
            "SLOAvailabilityBudgetBurn"
            if slo.startswith("availability")
            else "SLOLatencyBudgetBurn"
        )
        prefix = f"job:slo_{slo}:ratio_rate"
        page = (
            f"({prefix}1h > {14.4 * budget:.6g} and {prefix}5m > {14.4 * budget:.6g})\n"
            f"or\n({prefix}6h > {6 * budget:.6g} and {prefix}30m > {6 * budget:.6g})"
        )
        ticket = (
            f"({prefix}1d > {3 * budget:.6g} and {prefix}2h > {3 * budget:.6g})\n"
            f"or\n({prefix}3d > {budget:.6g} and {prefix}6h > {budget:.6g})"
        )
        objective = (
            t.availability_objective if slo.startswith("availability") else t.latency_objective
        )
        kind = slo.split("_")[0]
        summary = (
            f"{{{{ $labels.job }}}}: error budget of the {objective:.4g} {kind} SLO burns fast"
        )
        slo_rules.append(
            _alert(
                name,
                ticket,
                "warning",
                summary,
                "Multi-window burn rate (ticket): 3x over 1d and 2h, or 1x over 3d and 6h.",
                t,
                "0s",
            )
        )
        slo_rules.append(
            _alert(
                name,
                page,
                "critical",
                summary,
                "Multi-window burn rate (page): 14.4x over 1h and 5m, or 6x over 6h and 30m.",
                t,
                "0s",
            )
        )
    meta_group = {
        "name": "vigie-ai-meta",
        "rules": [
            {
                "alert": "Watchdog",
                "expr": "vector(1)",
                "labels": {"severity": "none"},
                "annotations": {
                    "summary": "Watchdog: the alerting pipeline works",
                    "description": "This alert always fires. "
                    "If it stops arriving, alerting is broken.",
                    "runbook_url": f"{t.runbook_base_url}/Watchdog",
                },
            }
        ],
    }
    return [
        http_group,
        llm_group,
        retrieval_group,
        quality_group,
        infra_group,
        {"name": "vigie-ai-slo", "rules": slo_rules},
        meta_group,
    ]


def _le_regex(seconds: float) -> str:
    """Match the bucket bound ``seconds`` however it was written (``1``, ``1.0``, ``1e+00``)."""
    text = f"{seconds:g}"
    return text.replace(".", "\\.") + ("(\\.0)?" if "." not in text else "0*")


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings as literal blocks, so PromQL stays readable."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def render_ai_pack(thresholds: AIPackThresholds | None = None, *, time_scale: float = 1.0) -> str:
    """The pack as a Prometheus rule file (deterministic text); see :func:`ai_pack_groups`."""
    header = (
        "# vigie AI rule pack. Generated by `vigie rules pack ai`; edit the thresholds there.\n"
        "# Runs unchanged on Prometheus. Runbooks: the runbook_url of each alert.\n"
    )
    if time_scale != 1.0:
        header += (
            f"# Time compressed {time_scale:g}x for a demo: `for` and range windows divided by "
            f"{time_scale:g}.\n"
        )
    body = yaml.dump(
        {"groups": ai_pack_groups(thresholds, time_scale=time_scale)},
        Dumper=_Dumper,
        sort_keys=False,
        width=100,
        allow_unicode=True,
    )
    return header + body


def runbook_names() -> list[str]:
    """The alert names that have a runbook."""
    folder = resources.files("vigie.rules.packs").joinpath("runbooks")
    return sorted(
        item.name.removesuffix(".md") for item in folder.iterdir() if item.name.endswith(".md")
    )


def runbook(alertname: str) -> str | None:
    """The markdown runbook of ``alertname``, or None."""
    if alertname not in runbook_names():
        return None
    return (
        resources.files("vigie.rules.packs")
        .joinpath("runbooks", f"{alertname}.md")
        .read_text(encoding="utf-8")
    )


def thresholds_from_mapping(values: dict[str, Any]) -> AIPackThresholds:
    """Thresholds from a config mapping; unknown keys are errors (raised as ValueError)."""
    known = {field.name for field in dataclasses.fields(AIPackThresholds)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown AI pack threshold(s): {sorted(unknown)}")
    converted: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value for key, value in values.items()
    }
    return dataclasses.replace(AIPackThresholds(), **converted)
