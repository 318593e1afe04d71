"""The checks ``vigie doctor`` runs on a running app: health, /metrics, cardinality, schema.

Each check speaks plain HTTP to the app, the way Prometheus and a load balancer do, and returns
:class:`~vigie.cli._doctor_findings.Finding` objects that say what is wrong and what to do:

* ``health``: ``GET /health`` (overall status and every check with its message) and
  ``GET /health/ready``;
* ``metrics.*``: ``GET /metrics`` is reachable, fast and small enough (median of a few scrapes),
  parses (an error names its line), passes promtool's lint (:mod:`vigie.cli._doctor_lint`), has no
  label with unbounded values (:mod:`vigie.cli._doctor_cardinality`), and serves the metrics an AI
  app should have, naming the vigie call that adds each missing one;
* ``schema``: the database's Alembic revision against the migration scripts' head.

Example::

    import httpx
    from vigie.cli._doctor_checks import check_app

    with httpx.Client(timeout=5) as client:
        for finding in check_app(client, "http://127.0.0.1:8000"):
            print(finding.severity.label, finding.check, finding.message)
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from vigie.cli._doctor_cardinality import (
    ADVICE,
    HIGH_CARDINALITY,
    LabelStats,
    label_stats,
    largest_labels,
    largest_metrics,
)
from vigie.cli._doctor_findings import Finding, Severity
from vigie.cli._doctor_lint import Family, families_of, lint_families
from vigie.exceptions import ExpositionError
from vigie.server.exposition import (
    ACCEPT_HEADER,
    Exposition,
    ExpositionParser,
    exposition_format,
)

__all__ = [
    "LARGE_BODY_BYTES",
    "RECOMMENDED_METRICS",
    "SCRAPES",
    "SLOW_SCRAPE_SECONDS",
    "check_app",
    "check_health",
    "check_metrics",
    "check_schema",
]

#: Scrapes timed to measure ``/metrics`` (the median is reported).
SCRAPES = 3
#: A median scrape slower than this is a warning (Prometheus's default scrape timeout is 10 s).
SLOW_SCRAPE_SECONDS = 1.0
#: A body larger than this is a warning (every scrape moves it over the network).
LARGE_BODY_BYTES = 10 * 1024 * 1024
#: Families with more series than this are a warning.
LARGE_METRIC_SERIES = 2_000

_LLM_CALL = (
    "vigie.instrument_openai(client), vigie.instrument_anthropic(client) or "
    "`with vigie.track_llm(provider=..., model=...)` around other LLM calls"
)
#: Metrics every AI app should serve, and the vigie call that adds each.
RECOMMENDED_METRICS: dict[str, tuple[str, str]] = {
    "http_server_request_duration_seconds": (
        "HTTP latency and traffic",
        "vigie.instrument_fastapi(app) (or instrument_asgi / instrument_wsgi)",
    ),
    "gen_ai_client_operation_duration_seconds": ("LLM call latency", _LLM_CALL),
    "gen_ai_client_tokens_total": ("LLM tokens in and out", _LLM_CALL),
    "gen_ai_client_cost_total": ("LLM spend", _LLM_CALL),
    "retrieval_search_duration_seconds": (
        "retrieval latency",
        "vigie.instrument_faiss(index) or `with vigie.track_retrieval(name)` around searches",
    ),
    "ml_prediction_confidence": (
        "model confidence",
        "vigie.record_prediction(model, label, confidence)",
    ),
    "user_feedback_total": ("user satisfaction", "vigie.record_feedback(target, rating)"),
    "process_resident_memory_bytes": (
        "process memory",
        "serve the default prometheus-client registry (vigie.instrument_fastapi(app) without "
        "registry=), or register prometheus_client.ProcessCollector(registry=...) on yours",
    ),
}


def check_app(client: httpx.Client, url: str, *, scrapes: int = SCRAPES) -> list[Finding]:
    """Every app check against ``url`` (health, then metrics); stops early if it is unreachable."""
    base = url.rstrip("/")
    try:
        client.get(base + "/health/live")
    except httpx.HTTPError as error:
        return [
            Finding(
                "app",
                Severity.ERROR,
                f"{base} is not reachable: {_describe(error)}",
                "start the app, or check the URL and port",
            )
        ]
    return check_health(client, base) + check_metrics(client, base, scrapes=scrapes)


def check_health(client: httpx.Client, base: str) -> list[Finding]:
    """Findings for ``/health`` (overall and per check) and ``/health/ready``."""
    response = client.get(base + "/health")
    if response.status_code == 404:
        return [
            Finding(
                "health",
                Severity.WARNING,
                f"{base}/health does not exist (404)",
                "vigie.instrument_fastapi(app) serves /health; register checks with "
                "vigie.health.add_check(name, function)",
            )
        ]
    try:
        document = response.json()
        status = str(document["status"])
        checks: dict[str, dict[str, Any]] = dict(document.get("checks") or {})
    except (ValueError, KeyError, TypeError, AttributeError):
        return [
            Finding(
                "health",
                Severity.WARNING,
                f"{base}/health answered {response.status_code} without the vigie health JSON "
                "(status, checks)",
                "serve /health through vigie.instrument_fastapi(app) (or instrument_asgi / wsgi)",
            )
        ]
    findings = [_overall(status, response.status_code, document, checks)]
    for name, result in checks.items():
        findings.append(_check_finding(name, result))
    findings.append(_ready(client, base))
    return findings


def _overall(
    status: str, code: int, document: dict[str, Any], checks: dict[str, dict[str, Any]]
) -> Finding:
    failing = sorted(name for name, result in checks.items() if not _passing(result.get("status")))
    version = document.get("version")
    details = {"status": status, "http_status": code, "version": version}
    summary = f"{len(checks)} check{'s' if len(checks) != 1 else ''}"
    if _passing(status):
        shown = f" (version {version})" if version else ""
        return Finding("health", Severity.OK, f"status ok{shown}, {summary} passing", "", details)
    severity = Severity.ERROR if status == "down" else Severity.WARNING
    return Finding(
        "health",
        severity,
        f"status {status} (HTTP {code}): failing {', '.join(failing) or '(none listed)'}",
        "fix the failing checks below; `down` means a required dependency is failing",
        details,
    )


def _check_finding(name: str, result: dict[str, Any]) -> Finding:
    message = str(result.get("message") or "")
    required = bool(result.get("required", True))
    details = {
        "status": result.get("status"),
        "required": required,
        "latency_ms": result.get("latency_ms"),
        "message": message,
    }
    if _passing(result.get("status")):
        return Finding(f"health.check.{name}", Severity.OK, message or "ok", "", details)
    kind = "required" if required else "optional"
    action = "fix the dependency this check watches" if message else "make the check say why"
    if "alembic" in message.lower():
        action = (
            "apply the pending migrations (`alembic upgrade head`); `vigie doctor --database-url "
            "URL --alembic-config alembic.ini` lists them"
        )
    return Finding(
        f"health.check.{name}",
        Severity.ERROR if required else Severity.WARNING,
        f"{kind} check failing: {message or 'no message'}",
        action,
        details,
    )


def _passing(status: object) -> bool:
    # vigie says "ok"; Spring, MicroProfile and the IETF health draft say "UP" or "pass".
    return str(status).lower() in {"ok", "up", "pass", "healthy"}


def _ready(client: httpx.Client, base: str) -> Finding:
    response = client.get(base + "/health/ready")
    if response.status_code == 200:
        return Finding("health.ready", Severity.OK, "/health/ready answers 200 (ready)")
    if response.status_code == 404:
        return Finding(
            "health.ready",
            Severity.INFO,
            "/health/ready does not exist (404)",
            "load balancers and Kubernetes readiness probes want it: vigie.instrument_fastapi "
            "serves it",
        )
    return Finding(
        "health.ready",
        Severity.ERROR,
        f"/health/ready answers {response.status_code}: the app is not ready for traffic",
        "a required check is failing (see above): load balancers take the app out of rotation",
        {"http_status": response.status_code},
    )


def check_metrics(client: httpx.Client, base: str, *, scrapes: int = SCRAPES) -> list[Finding]:
    """Findings for ``/metrics``: reachable, scrape time and size, parse, lint, cardinality."""
    url = base + "/metrics"
    durations: list[float] = []
    response: httpx.Response | None = None
    for _ in range(max(1, scrapes)):
        started = time.perf_counter()
        try:
            response = client.get(url, headers={"Accept": ACCEPT_HEADER})
        except httpx.HTTPError as error:
            return [
                Finding(
                    "metrics.reachable",
                    Severity.ERROR,
                    f"{url} failed: {_describe(error)}",
                    "check that the app serves /metrics",
                )
            ]
        durations.append(time.perf_counter() - started)
        if response.status_code != 200:
            return [
                Finding(
                    "metrics.reachable",
                    Severity.ERROR,
                    f"{url} answered {response.status_code}",
                    "serve /metrics: vigie.instrument_fastapi(app) does, or mount "
                    "prometheus_client.make_asgi_app()",
                    {"http_status": response.status_code},
                )
            ]
    assert response is not None
    content_type = response.headers.get("content-type", "")
    findings = [
        Finding(
            "metrics.reachable",
            Severity.OK,
            f"{url} answers 200 ({content_type or 'no content type'})",
            "",
            {"content_type": content_type},
        ),
        _scrape_finding(durations, len(response.content)),
    ]
    text_body = response.content
    if exposition_format(content_type) == "openmetrics":
        # Check the OpenMetrics body parses, then lint the text format promtool reads.
        parsed = _parse(response.content, content_type, url)
        if isinstance(parsed, Finding):
            return [*findings, parsed]
        text_body = client.get(url, headers={"Accept": "text/plain;version=0.0.4"}).content
    parsed = _parse(text_body, "text/plain", url)
    if isinstance(parsed, Finding):
        return [*findings, parsed]
    text = text_body.decode("utf-8")
    families = families_of(parsed, text)
    series = sum(len(family.series) for family in families.values())
    findings.append(
        Finding(
            "metrics.parse",
            Severity.OK,
            f"parses: {len(families)} metric families, {series} series",
            "",
            {"families": len(families), "series": series},
        )
    )
    findings += _lint_findings(families.values())
    findings += _cardinality_findings(list(families.values()))
    findings += _recommended_findings(families)
    return findings


def _scrape_finding(durations: list[float], size: int) -> Finding:
    median = statistics.median(durations)
    details = {
        "median_seconds": round(median, 6),
        "scrapes": len(durations),
        "body_bytes": size,
    }
    message = (
        f"median scrape {median * 1000:.1f} ms over {len(durations)} scrapes, body {_size(size)}"
    )
    if median > SLOW_SCRAPE_SECONDS:
        return Finding(
            "metrics.scrape",
            Severity.WARNING,
            f"slow: {message}",
            "find the slow collector (a custom collector doing I/O?) or cut series; a scrape "
            "must finish well within the scrape timeout",
            details,
        )
    if size > LARGE_BODY_BYTES:
        return Finding(
            "metrics.scrape",
            Severity.WARNING,
            f"large: {message}",
            "cut series (see the cardinality report) or drop unused metrics",
            details,
        )
    return Finding("metrics.scrape", Severity.INFO, message, "", details)


def _parse(body: bytes, content_type: str, url: str) -> Exposition | Finding:
    try:
        return ExpositionParser(source=url).parse(body, content_type)
    except ExpositionError as error:
        return Finding(
            "metrics.parse",
            Severity.ERROR,
            f"/metrics does not parse: line {error.line}: {error.message}",
            f"fix line {error.line} of the exposition: Prometheus rejects the whole scrape, "
            "so the app has no metrics at all",
            {"line": error.line, "error": error.message, "format": exposition_format(content_type)},
        )


def _lint_findings(families: Iterable[Family]) -> list[Finding]:
    # promtool repeats a problem per offending series; one finding per problem is enough.
    problems = list({str(problem): problem for problem in lint_families(families)}.values())
    if not problems:
        return [
            Finding(
                "metrics.lint",
                Severity.OK,
                "lint-clean (the rules of `promtool check metrics`)",
            )
        ]
    return [
        Finding(
            "metrics.lint",
            Severity.WARNING,
            f"{problem.metric}: {problem.text}",
            problem.action,
            {"metric": problem.metric, "problem": problem.text},
        )
        for problem in problems
    ]


def _cardinality_findings(families: list[Family]) -> list[Finding]:
    metrics = largest_metrics(families)
    stats = label_stats(families)
    labels = largest_labels(stats)
    findings = [
        Finding(
            "cardinality.metrics",
            Severity.INFO,
            f"{len(metrics)} largest metrics by series",
            "",
            {
                "metrics": [{"metric": name, "series": count} for name, count in metrics],
                "table": [f"{count:>7}  {name}" for name, count in metrics],
            },
        ),
        Finding(
            "cardinality.labels",
            Severity.INFO,
            f"{len(labels)} largest labels by distinct values",
            "",
            {
                "labels": [
                    {"metric": item.metric, "label": item.label, "values": item.distinct}
                    for item in labels
                ],
                "table": [f"{item.distinct:>7}  {item.metric}{{{item.label}}}" for item in labels],
            },
        ),
    ]
    for name, count in metrics:
        if count > LARGE_METRIC_SERIES:
            findings.append(
                Finding(
                    "cardinality.metric",
                    Severity.WARNING,
                    f"{name} has {count} series",
                    "drop or bound a label of this metric (see the labels below)",
                    {"metric": name, "series": count},
                )
            )
    findings += [_label_warning(item) for item in stats if item.kinds]
    findings += [
        Finding(
            "cardinality.label",
            Severity.WARNING,
            f"{item.metric}{{{item.label}}} has {item.distinct} distinct values",
            "bound the label to a small set of values",
            {"metric": item.metric, "label": item.label, "values": item.distinct},
        )
        for item in stats
        if not item.kinds and item.distinct > HIGH_CARDINALITY
    ]
    return findings


def _label_warning(item: LabelStats) -> Finding:
    what = " and ".join(ADVICE[kind][0] for kind in item.kinds)
    examples = ", ".join(_mask(value) for value in item.examples)
    return Finding(
        "cardinality.label",
        Severity.WARNING,
        f"{item.metric}{{{item.label}}} {what} ({item.distinct} distinct "
        f"value{'s' if item.distinct != 1 else ''}, e.g. {examples})",
        "; ".join(ADVICE[kind][1] for kind in item.kinds),
        {
            "metric": item.metric,
            "label": item.label,
            "values": item.distinct,
            "kinds": list(item.kinds),
        },
    )


def _mask(value: str) -> str:
    """Show the shape of a value without repeating personal data (e-mails) in full."""
    if "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    return value if len(value) <= 40 else value[:37] + "..."


def _recommended_findings(families: dict[str, Family]) -> list[Finding]:
    present = [name for name in RECOMMENDED_METRICS if name in families]
    findings: list[Finding] = []
    if present:
        findings.append(
            Finding(
                "metrics.recommended",
                Severity.OK,
                f"serves {len(present)} of {len(RECOMMENDED_METRICS)} recommended metrics",
                "",
                {"present": present},
            )
        )
    for name, (what, call) in RECOMMENDED_METRICS.items():
        if name not in families:
            findings.append(
                Finding(
                    "metrics.recommended",
                    Severity.INFO,
                    f"missing {name} ({what})",
                    f"added by {call}",
                    {"metric": name},
                )
            )
    return findings


def check_schema(database_url: str, alembic_config: str | None) -> list[Finding]:
    """The database's Alembic revision against the scripts' head (SQLAlchemy + Alembic needed).

    ``alembic_config`` is an ``alembic.ini`` file or the migration folder itself; without it,
    ``./alembic.ini`` is used when present.
    """
    try:
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, SQLAlchemyError
    except ImportError:
        return [
            Finding(
                "schema",
                Severity.ERROR,
                "--database-url needs SQLAlchemy and Alembic, which are not installed",
                'pip install "vigie[sqlalchemy]"',
            )
        ]
    if alembic_config is None and Path("alembic.ini").is_file():
        alembic_config = "alembic.ini"
    if alembic_config is None or not Path(alembic_config).exists():
        shown = alembic_config or "./alembic.ini"
        return [
            Finding(
                "schema",
                Severity.ERROR,
                f"no Alembic configuration: {shown} not found",
                "pass --alembic-config PATH (an alembic.ini or the migration folder)",
            )
        ]
    if Path(alembic_config).is_dir():
        settings = Config()
        settings.set_main_option("script_location", os.fspath(alembic_config).replace("%", "%%"))
    else:
        settings = Config(alembic_config)
    try:
        shown_url = make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return [
            Finding(
                "schema",
                Severity.ERROR,
                "--database-url is not a database URL",
                "give a SQLAlchemy URL such as sqlite:///app.db or postgresql://host/db",
            )
        ]
    try:
        scripts = ScriptDirectory.from_config(settings)
        heads = tuple(sorted(scripts.get_heads()))
        engine = create_engine(database_url)
        try:
            with engine.connect() as connection:
                current = tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
        finally:
            engine.dispose()
    except SQLAlchemyError as error:
        return [
            Finding(
                "schema",
                Severity.ERROR,
                f"cannot read the Alembic revision of {shown_url}: {type(error).__name__}",
                "check the URL, credentials and that the database is up",
            )
        ]
    except Exception as error:  # alembic's script errors have no common base class
        return [
            Finding(
                "schema",
                Severity.ERROR,
                f"cannot read the migration scripts of {alembic_config}: {error}",
                "check --alembic-config and its script_location",
            )
        ]
    return [_compare(scripts, current, heads, shown_url)]


def _compare(scripts: Any, current: tuple[str, ...], heads: tuple[str, ...], url: str) -> Finding:
    shown_heads = ", ".join(heads) or "(none)"
    shown_current = ", ".join(current) or "(none)"
    details: dict[str, Any] = {"database": url, "current": list(current), "head": list(heads)}
    if set(current) == set(heads):
        return Finding("schema", Severity.OK, f"database at head {shown_heads}", "", details)
    action = "run `alembic upgrade head` against this database before (or while) deploying"
    if not current:
        return Finding(
            "schema",
            Severity.ERROR,
            f"database has no Alembic revision (never migrated); head is {shown_heads}",
            action,
            details,
        )
    unknown = [revision for revision in current if not _known(scripts, revision)]
    if unknown:
        return Finding(
            "schema",
            Severity.ERROR,
            f"database is at revision {', '.join(unknown)}, which the migration scripts do not "
            f"contain (head is {shown_heads})",
            "the deployed code is older than the database: deploy the code that has this "
            "migration, or downgrade the database",
            details,
        )
    try:
        pending = [
            (script.revision, (script.doc or "").strip())
            for script in scripts.iterate_revisions("heads", current)
        ]
    except Exception:  # branches alembic cannot walk: report without the list
        pending = []
    details["pending"] = [{"revision": rev, "message": doc} for rev, doc in pending]
    count = len(pending)
    listed = "; ".join(f"{rev} {doc}".strip() for rev, doc in reversed(pending))
    return Finding(
        "schema",
        Severity.ERROR,
        f"database is at revision {shown_current}, head is {shown_heads}: "
        f"{count} migration{'s' if count != 1 else ''} not applied"
        + (f" ({listed})" if listed else ""),
        action,
        details,
    )


def _known(scripts: Any, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except Exception:  # alembic raises several resolution errors for an unknown id
        return False


def _describe(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    if isinstance(error, httpx.ConnectError):
        return "connection refused"
    return f"{type(error).__name__}: {error}"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"
