"""``vigie doctor``: check a running app, its database and its monitoring server; say what to fix.

It prints actionable findings (``ok``, ``info``, ``warning``, ``error``), each with what is wrong
and what to do, and exits with the worst: 0 when all is ok or info, 1 for a warning, 2 for an
error. ``--format json`` prints the same report for machines. See docs/doctor.md.

Example::

    $ vigie doctor http://127.0.0.1:8000 --server http://127.0.0.1:9090 \\
          --database-url sqlite:///faq.db --alembic-config alembic.ini
    $ vigie doctor --server https://vigie.example.org:9800 --token-file viewer-token \\
          --ca-file cert.pem
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import httpx

from vigie.cli._doctor_checks import check_app, check_schema
from vigie.cli._doctor_findings import Finding, Severity, exit_code, render_json, render_text
from vigie.cli._doctor_server import check_server
from vigie.cli._server_access import ServerAccess, add_access_arguments, server_access
from vigie.exceptions import ConfigurationError

__all__ = ["register", "run_doctor"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        help="check a running app and server; print what to fix",
        description=(
            "Check a running app (/health, /metrics: parse, promtool lint, cardinality, scrape "
            "time, recommended AI metrics), its database schema (Alembic) and a vigie server or "
            "Prometheus (targets, rules, alerts, receivers). Exit code: 0 ok, 1 warning, 2 error."
        ),
    )
    parser.add_argument("url", nargs="?", help="base URL of the app (serving /health, /metrics)")
    parser.add_argument("--server", metavar="URL", help="a vigie server or Prometheus to check")
    parser.add_argument(
        "--database-url", metavar="URL", help="SQLAlchemy URL of the app's database (schema check)"
    )
    parser.add_argument(
        "--alembic-config",
        metavar="PATH",
        help="alembic.ini or the migration folder (default: ./alembic.ini)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="timeout of each HTTP request"
    )
    add_access_arguments(parser)
    parser.set_defaults(handler=_handle)


def run_doctor(
    url: str | None = None,
    *,
    server: str | None = None,
    database_url: str | None = None,
    alembic_config: str | None = None,
    timeout: float = 5.0,
    access: ServerAccess | None = None,
) -> list[Finding]:
    """Every applicable check; raises :class:`ConfigurationError` when there is nothing to check.

    ``access`` (token, TLS trust) applies to ``server`` only: the app's endpoints are checked
    as a scraper without credentials sees them.
    """
    if not (url or server or database_url):
        raise ConfigurationError("give an app URL, --server URL or --database-url URL to check")
    if not timeout > 0:
        raise ConfigurationError("must be a positive number of seconds", field="--timeout")
    for flag, value in (("URL", url), ("--server", server)):
        if value and not value.startswith(("http://", "https://")):
            raise ConfigurationError(f"{value!r} is not an http(s) URL", field=flag)
    findings: list[Finding] = []
    with httpx.Client(timeout=timeout) as client:
        if url:
            findings += _guarded("app", lambda: check_app(client, url))
        if database_url:
            findings += check_schema(database_url, alembic_config)
        if server:
            access = access or ServerAccess()
            with httpx.Client(
                timeout=timeout, headers=access.headers, verify=access.verify
            ) as server_client:
                findings += _guarded(
                    "server", lambda: check_server(server_client, server, access=access)
                )
    return findings


def _guarded(check: str, run: Callable[[], list[Finding]]) -> list[Finding]:
    try:
        return run()
    except httpx.HTTPError as error:
        return [
            Finding(
                check,
                Severity.ERROR,
                f"request failed: {type(error).__name__}: {error}",
                "check that it is up; raise --timeout if it is slow",
            )
        ]


def _handle(arguments: argparse.Namespace) -> int:
    findings = run_doctor(
        arguments.url,
        server=arguments.server,
        database_url=arguments.database_url,
        alembic_config=arguments.alembic_config,
        timeout=arguments.timeout,
        access=server_access(arguments),
    )
    if arguments.format == "json":
        target = {
            "url": arguments.url,
            "server": arguments.server,
            "database_url": "given" if arguments.database_url else None,
        }
        print(render_json(findings, target=target))
    else:
        checked = [arguments.url, arguments.server and f"server {arguments.server}"]
        if arguments.database_url:
            checked.append("database")
        title = "vigie doctor: " + ", ".join(item for item in checked if item)
        print(render_text(findings, title=title), end="")
    return exit_code(findings)
