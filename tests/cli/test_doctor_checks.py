"""The checks of `vigie doctor` against real apps, real promtool and a real Alembic database."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from support import require_binary
from vigie.cli._doctor_cardinality import classify
from vigie.cli._doctor_checks import check_app, check_schema
from vigie.cli._doctor_findings import Finding, Severity
from vigie.cli._doctor_lint import lint_text

LINT_BODY = """\
# HELP requests Requests handled.
# TYPE requests counter
requests 3
# TYPE latency_milliseconds gauge
latency_milliseconds 12
# HELP queue_total Items queued.
# TYPE queue_total gauge
queue_total 4
# HELP userLogins Logins.
# TYPE userLogins counter
userLogins{userName="a"} 1
userLogins{userName="b"} 2
# HELP cache_size_kb Cache size.
# TYPE cache_size_kb gauge
cache_size_kb 5
# HELP bad_bucket Not a histogram.
# TYPE bad_bucket gauge
bad_bucket{le="1"} 2
# HELP jobs_count Jobs.
# TYPE jobs_count gauge
jobs_count{quantile="0.5"} 2
# HELP foo:bar Recording-rule-like name.
# TYPE foo:bar gauge
foo:bar 1
# HELP mem_gauge Memory.
# TYPE mem_gauge gauge
mem_gauge 1
untyped_thing_total 3
# HELP up_hours Uptime.
# TYPE up_hours gauge
up_hours 1
# HELP payload_bits Payload.
# TYPE payload_bits gauge
payload_bits 1
# HELP empty_family_total Declared, never used: promtool ignores it.
# TYPE empty_family_total gauge
# HELP latency_seconds A good histogram.
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 1
latency_seconds_bucket{le="+Inf"} 2
latency_seconds_sum 0.3
latency_seconds_count 2
# HELP rpc_duration_seconds A good summary.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 0.1
rpc_duration_seconds_sum 1
rpc_duration_seconds_count 3
# HELP orphan A gauge.
# TYPE orphan gauge
orphan_count 3
"""


def _bad_metrics() -> str:
    """Lint problems, user ids, raw paths, e-mails and free text in labels."""
    lines = [
        "# HELP requests Requests handled.",
        "# TYPE requests counter",
        "requests 3",
        "# TYPE latency_milliseconds gauge",
        "latency_milliseconds 12",
        "# HELP page_views_total Views per page and user.",
        "# TYPE page_views_total counter",
    ]
    for number in range(150):
        user = uuid.UUID(int=number + 1)
        lines.append(f'page_views_total{{path="/users/{1000 + number}/orders",user="{user}"}} 1')
    lines += ["# HELP signups_total Sign-ups.", "# TYPE signups_total counter"]
    for name in ("alice", "bob"):
        lines.append(f'signups_total{{email="{name}@example.org"}} 1')
    lines += ["# HELP questions_total Questions asked.", "# TYPE questions_total counter"]
    lines.append('questions_total{question="how do I renew my passport"} 1')
    lines += [
        "# HELP process_resident_memory_bytes Memory.",
        "# TYPE process_resident_memory_bytes gauge",
    ]
    lines.append("process_resident_memory_bytes 1e6")
    return "\n".join(lines) + "\n"


BAD_HEALTH = {
    "status": "down",
    "version": "2.0.0",
    "checks": {
        "db": {
            "status": "failing",
            "required": True,
            "latency_ms": 1.5,
            "message": "connection refused by db:5432",
        },
        "llm": {
            "status": "failing",
            "required": False,
            "latency_ms": 1000.0,
            "message": "timed out after 1.0 s",
        },
        "schema": {
            "status": "failing",
            "required": True,
            "latency_ms": 3.0,
            "message": "database is at revision 0001, head is 0002: 1 migration not applied; "
            "run `alembic upgrade head`",
        },
        "index": {
            "status": "ok",
            "required": True,
            "latency_ms": 0.1,
            "message": "index has 60 items",
        },
    },
}

BROKEN_METRICS = '# TYPE ok gauge\nok 1\nbroken{x="1" 2\n'


class _BadApp(BaseHTTPRequestHandler):
    """A deliberately bad app; under /broken its /metrics does not parse."""

    def do_GET(self) -> None:
        routes: dict[str, tuple[int, str, str]] = {
            "/health": (503, "application/json", json.dumps(BAD_HEALTH)),
            "/health/ready": (503, "application/json", json.dumps({"status": "down"})),
            "/metrics": (200, "text/plain; version=0.0.4", _bad_metrics()),
            "/broken/metrics": (200, "text/plain; version=0.0.4", BROKEN_METRICS),
        }
        status, content_type, body = routes.get(self.path, (404, "text/plain", "not found"))
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def bad_app() -> Iterator[str]:
    """The bad app, served on a free port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BadApp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _problems(findings: list[Finding], *severities: Severity) -> set[tuple[str, str, str]]:
    return {
        (finding.check, finding.severity.label, finding.message)
        for finding in findings
        if finding.severity in severities
    }


def test_lint_matches_promtool_check_metrics() -> None:
    """The lint reports exactly what `promtool check metrics` reports, in the same order."""
    promtool = require_binary("promtool", package="prometheus")
    for body in (LINT_BODY, _bad_metrics()):
        result = subprocess.run(
            [promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=30
        )
        theirs = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        assert result.returncode == 3
        assert [str(problem) for problem in lint_text(body)] == theirs


def test_lint_of_lint_body_lists_every_rule() -> None:
    """Each promlint rule fires on the metric that breaks it, once per offending series."""
    assert [str(problem) for problem in lint_text(LINT_BODY)] == [
        'bad_bucket non-histogram metrics should not have "_bucket" suffix',
        'bad_bucket non-histogram metrics should not have "le" label',
        "cache_size_kb metric names should not contain abbreviated units",
        "foo:bar metric names should not contain ':'",
        'jobs_count non-histogram and non-summary metrics should not have "_count" suffix',
        'jobs_count non-summary metrics should not have "quantile" label',
        "latency_milliseconds no help text",
        'latency_milliseconds use base unit "seconds" instead of "milliseconds"',
        "mem_gauge metric name should not include type 'gauge'",
        "orphan_count no help text",
        'payload_bits use base unit "bytes" instead of "bits"',
        'queue_total non-counter metrics should not have "_total" suffix',
        'requests counter metrics should have "_total" suffix',
        "untyped_thing_total no help text",
        'up_hours use base unit "seconds" instead of "hours"',
        'userLogins counter metrics should have "_total" suffix',
        "userLogins label names should be written in 'snake_case' not 'camelCase'",
        "userLogins label names should be written in 'snake_case' not 'camelCase'",
        "userLogins metric names should be written in 'snake_case' not 'camelCase'",
    ]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("123e4567-e89b-12d3-a456-426614174000", "id"),
        ("9f86d081884c7d65", "id"),
        ("20231105", "id"),
        ("/users/1234/orders", "path"),
        ("/items/123e4567-e89b-12d3-a456-426614174000", "path"),
        ("jane.doe@example.org", "email"),
        ("how do I renew my passport", "free text"),
        ("/users/{user_id}/orders", None),
        ("/health", None),
        ("200", None),
        ("GET", None),
        ("gpt-4o-mini", None),
        ("deadbeef", None),
        ("0.005", None),
    ],
)
def test_label_values_are_classified(value: str, kind: str | None) -> None:
    """Ids, raw paths, e-mails and free text are recognised; templates and enums are not."""
    assert classify(value) == kind


def test_bad_app_findings(bad_app: str) -> None:
    """The bad app yields its failing checks, lint problems and unbounded labels, exactly."""
    with httpx.Client(timeout=5) as client:
        findings = check_app(client, bad_app, scrapes=2)
    assert _problems(findings, Severity.WARNING, Severity.ERROR) == {
        ("health", "error", "status down (HTTP 503): failing db, llm, schema"),
        (
            "health.check.schema",
            "error",
            "required check failing: database is at revision 0001, head is 0002: "
            "1 migration not applied; run `alembic upgrade head`",
        ),
        ("health.check.db", "error", "required check failing: connection refused by db:5432"),
        ("health.check.llm", "warning", "optional check failing: timed out after 1.0 s"),
        ("health.ready", "error", "/health/ready answers 503: the app is not ready for traffic"),
        ("metrics.lint", "warning", "latency_milliseconds: no help text"),
        (
            "metrics.lint",
            "warning",
            'latency_milliseconds: use base unit "seconds" instead of "milliseconds"',
        ),
        ("metrics.lint", "warning", 'requests: counter metrics should have "_total" suffix'),
        (
            "cardinality.label",
            "warning",
            "page_views_total{path} holds raw URL paths (150 distinct values, "
            "e.g. /users/1000/orders)",
        ),
        (
            "cardinality.label",
            "warning",
            "page_views_total{user} looks like ids (150 distinct values, "
            "e.g. 00000000-0000-0000-0000-000000000001)",
        ),
        (
            "cardinality.label",
            "warning",
            "signups_total{email} holds e-mail addresses (2 distinct values, "
            "e.g. a***@example.org)",
        ),
        (
            "cardinality.label",
            "warning",
            "questions_total{question} holds free text (1 distinct value, "
            "e.g. how do I renew my passport)",
        ),
    }
    by_check = {finding.check: finding for finding in findings}
    assert by_check["health.check.schema"].action.startswith(
        "apply the pending migrations (`alembic upgrade head`)"
    )
    assert by_check["health.check.index"].severity is Severity.OK
    assert by_check["health.check.index"].message == "index has 60 items"
    assert by_check["metrics.parse"].message == "parses: 6 metric families, 156 series"
    metrics_table = by_check["cardinality.metrics"].details["metrics"]
    assert metrics_table[0] == {"metric": "page_views_total", "series": 150}
    assert by_check["cardinality.labels"].details["labels"][:2] == [
        {"metric": "page_views_total", "label": "path", "values": 150},
        {"metric": "page_views_total", "label": "user", "values": 150},
    ]
    missing = sorted(
        finding.details["metric"]
        for finding in findings
        if finding.check == "metrics.recommended" and finding.severity is Severity.INFO
    )
    assert missing == [
        "gen_ai_client_cost_total",
        "gen_ai_client_operation_duration_seconds",
        "gen_ai_client_tokens_total",
        "http_server_request_duration_seconds",
        "ml_prediction_confidence",
        "retrieval_search_duration_seconds",
        "user_feedback_total",
    ]
    feedback = next(f for f in findings if f.details.get("metric") == "user_feedback_total")
    assert feedback.action == "added by vigie.record_feedback(target, rating)"


def test_unparseable_metrics_name_the_line(bad_app: str) -> None:
    """A /metrics body that does not parse is an error naming its line; nothing is linted."""
    with httpx.Client(timeout=5) as client:
        findings = check_app(client, bad_app + "/broken", scrapes=1)
    parse = [finding for finding in findings if finding.check == "metrics.parse"]
    assert len(parse) == 1
    assert parse[0].severity is Severity.ERROR
    assert parse[0].details["line"] == 3
    assert parse[0].message.startswith("/metrics does not parse: line 3: ")
    assert not [finding for finding in findings if finding.check.startswith("metrics.lint")]


def test_unreachable_app_is_one_error() -> None:
    """An app nobody listens for gives a single error finding."""
    from support import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with httpx.Client(timeout=2) as client:
        findings = check_app(client, url)
    assert [(f.check, f.severity, f.message) for f in findings] == [
        ("app", Severity.ERROR, f"{url} is not reachable: connection refused")
    ]


_ENV_PY = """\
from alembic import context
from sqlalchemy import create_engine

engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"""

_REVISION = '''\
"""{message}"""
import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = {down!r}


def upgrade() -> None:
    op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("{table}")
'''


def _migrations(tmp_path: Path) -> tuple[Path, str]:
    """A migration folder with two revisions; a SQLite database upgraded to the first only."""
    from alembic import command
    from alembic.config import Config

    folder = tmp_path / "migrations"
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(_ENV_PY)
    for revision, down, table, message in (
        ("0001", None, "faq", "create faq table"),
        ("0002", "0001", "feedback", "add feedback table"),
    ):
        (folder / "versions" / f"{revision}.py").write_text(
            _REVISION.format(revision=revision, down=down, table=table, message=message)
        )
    url = f"sqlite:///{tmp_path / 'faq.db'}"
    config = Config()
    config.set_main_option("script_location", str(folder))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0001")
    return folder, url


def test_schema_one_revision_behind_is_pinpointed(tmp_path: Path) -> None:
    """A database one migration behind is an error naming both revisions and the missing one."""
    folder, url = _migrations(tmp_path)
    [finding] = check_schema(url, str(folder))
    assert finding.severity is Severity.ERROR
    assert finding.message == (
        "database is at revision 0001, head is 0002: 1 migration not applied "
        "(0002 add feedback table)"
    )
    assert finding.action.startswith("run `alembic upgrade head`")
    assert finding.details["pending"] == [{"revision": "0002", "message": "add feedback table"}]


def test_schema_at_head_is_ok_and_ini_file_works(tmp_path: Path) -> None:
    """After the upgrade, the same database is at head, through an alembic.ini too."""
    from alembic import command
    from alembic.config import Config

    folder, url = _migrations(tmp_path)
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {folder}\nsqlalchemy.url = {url}\n")
    command.upgrade(Config(str(ini)), "head")
    assert [(f.severity, f.message) for f in check_schema(url, str(ini))] == [
        (Severity.OK, "database at head 0002")
    ]


def test_schema_never_migrated_and_unknown_revision(tmp_path: Path) -> None:
    """An empty database and one at a revision the scripts lack are errors that say so."""
    folder, _ = _migrations(tmp_path)
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    [never] = check_schema(empty, str(folder))
    assert never.message == "database has no Alembic revision (never migrated); head is 0002"
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES ('0003')")
    [unknown] = check_schema(f"sqlite:///{newer}", str(folder))
    assert unknown.severity is Severity.ERROR
    assert unknown.message == (
        "database is at revision 0003, which the migration scripts do not contain (head is 0002)"
    )


def test_schema_without_config_or_with_bad_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing alembic.ini and an unreadable database URL are clear errors, passwords hidden."""
    monkeypatch.chdir(tmp_path)
    [missing] = check_schema("sqlite:///x.db", None)
    assert missing.message == "no Alembic configuration: ./alembic.ini not found"
    folder, _ = _migrations(tmp_path)
    [bad] = check_schema("postgresql+psycopg://app:s3cret@127.0.0.1:1/faq", str(folder))
    assert bad.severity is Severity.ERROR
    assert "s3cret" not in bad.message
    assert bad.message.startswith(
        "cannot read the Alembic revision of postgresql+psycopg://app:***@"
    )


def _api(data: object) -> tuple[int, str, str]:
    return 200, "application/json", json.dumps({"status": "success", "data": data})


def test_server_with_notification_history_reports_failing_receivers() -> None:
    """A receiver is judged by its latest notification: failed is an error, retrying a warning."""
    from vigie.cli._doctor_server import check_server

    routes = {
        "/api/v1/targets": _api({"activeTargets": [{"health": "up", "labels": {"job": "faq"}}]}),
        "/api/v1/rules": _api({"groups": [{"name": "g", "rules": [{"health": "ok"}]}]}),
        "/api/v1/alerts": _api({"alerts": []}),
        "/api/v1/notifications": _api(
            [
                {"receiver": "slack", "state": "delivered", "lastError": ""},
                {"receiver": "discord", "state": "failed", "lastError": "HTTP 401 Unauthorized"},
                {"receiver": "ops", "state": "pending", "lastError": "timed out", "attempts": 3},
                {"receiver": "slack", "state": "failed", "lastError": "older failure"},
            ]
        ),
    }

    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = routes.get(self.path, (404, "text/plain", "no"))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with httpx.Client(timeout=5) as client:
            findings = check_server(client, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert [(f.check, f.severity, f.message) for f in findings] == [
        ("server.targets", Severity.OK, "1 of 1 up"),
        ("server.rules", Severity.OK, "1 rules in 1 groups evaluate without error"),
        ("server.alerts", Severity.OK, "no alert pending or firing"),
        (
            "server.notifications",
            Severity.ERROR,
            "receiver discord: last notification failed: HTTP 401 Unauthorized",
        ),
        (
            "server.notifications",
            Severity.WARNING,
            "receiver ops: retrying after 3 failed attempts: timed out",
        ),
    ]
