"""``vigie silence``: add, list and expire silences on a running server, as ``amtool silence``.

It speaks Alertmanager's API v2 (``/api/v2/silences``), so ``--server`` may also point at a real
Alertmanager. Matchers are written as in amtool and Alertmanager: ``alertname=TargetDown``,
``instance=~"db-.*"``, ``severity!=info``.

Example::

    $ vigie silence add alertname=TargetDown job=app --duration 2h --comment "deploy"
    0f3c5c0e-...
    $ vigie silence query alertname=TargetDown
    $ vigie silence expire 0f3c5c0e-...
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from vigie.exceptions import ConfigurationError
from vigie.server.config import parse_duration

__all__ = ["DEFAULT_SERVER", "parse_matcher", "register", "request_json"]

DEFAULT_SERVER = "http://127.0.0.1:9800"

_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.S)


def parse_matcher(text: str) -> dict[str, Any]:
    """``name=value`` (``=``, ``!=``, ``=~``, ``!~``; value optionally quoted) as API v2 JSON."""
    found = _MATCHER.match(text)
    if found is None:
        raise ConfigurationError(f"bad matcher {text!r} (expected e.g. alertname=Down)")
    name, op, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = json.loads(value)
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as error:
            raise ConfigurationError(f"bad regular expression in {text!r}: {error}") from None
    return {"name": name, "value": value, "isRegex": "~" in op, "isEqual": op in ("=", "=~")}


def request_json(
    server: str, method: str, path: str, body: Any = None, *, timeout: float = 10.0
) -> Any:
    """Call the server's API; errors become :class:`ConfigurationError` with its answer."""
    url = server.rstrip("/") + path
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"expected an http(s) URL, got {server!r}", field="--server")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (checked above)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace").strip()
        with contextlib.suppress(ValueError):
            detail = str(json.loads(detail))  # Alertmanager answers errors as a JSON string
        raise ConfigurationError(f"{method} {url}: {error.code} {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        raise ConfigurationError(f"cannot reach {url}: {error}", field="--server") from None
    return json.loads(raw) if raw.strip() else None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie silence``."""
    parser = subparsers.add_parser(
        "silence",
        help="add, list and expire silences",
        description="Manage the silences of a running vigie server (or Alertmanager).",
    )
    commands = parser.add_subparsers(title="silence commands", metavar="COMMAND")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--server", default=DEFAULT_SERVER, metavar="URL",
                         help=f"server base URL (default: {DEFAULT_SERVER})")  # fmt: skip
        sub.add_argument("--timeout", type=float, default=10.0, help="seconds")

    add = commands.add_parser("add", help="silence the alerts matching MATCHER...")
    add.add_argument("matchers", nargs="+", metavar="MATCHER", help="e.g. alertname=TargetDown")
    add.add_argument("-c", "--comment", default="", help="why (required by convention)")
    add.add_argument("-a", "--author", default=None, help="default: the current user")
    add.add_argument("-d", "--duration", default="1h", help="how long (default: 1h)")
    add.add_argument("--start", default=None, help="RFC 3339 start (default: now)")
    common(add)
    add.set_defaults(handler=run_add)

    query = commands.add_parser("query", help="list silences (matching MATCHER...)")
    query.add_argument("matchers", nargs="*", metavar="MATCHER")
    query.add_argument("--expired", action="store_true", help="list expired silences instead")
    query.add_argument("-q", "--quiet", action="store_true", help="print only the ids")
    query.add_argument("--format", choices=["table", "json"], default="table")
    common(query)
    query.set_defaults(handler=run_query)

    expire = commands.add_parser("expire", help="end silences now")
    expire.add_argument("ids", nargs="+", metavar="ID")
    common(expire)
    expire.set_defaults(handler=run_expire)

    def usage(arguments: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(handler=usage)


def _filters(matchers: list[str]) -> str:
    for text in matchers:
        parse_matcher(text)  # a typo fails here, with the matcher named
    return urllib.parse.urlencode([("filter", text) for text in matchers])


def run_add(arguments: argparse.Namespace) -> int:
    matchers = [parse_matcher(text) for text in arguments.matchers]
    try:
        duration = timedelta(milliseconds=parse_duration(arguments.duration))
    except ValueError as error:
        raise ConfigurationError(str(error), field="--duration") from None
    start = datetime.now(UTC)
    if arguments.start:
        try:
            start = datetime.fromisoformat(arguments.start.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(
                f"expected RFC 3339, got {arguments.start!r}", field="--start"
            ) from None
    body = {
        "matchers": matchers,
        "startsAt": _iso(start),
        "endsAt": _iso(start + duration),
        "createdBy": arguments.author or getpass.getuser(),
        "comment": arguments.comment,
    }
    answer = request_json(
        arguments.server, "POST", "/api/v2/silences", body, timeout=arguments.timeout
    )
    print(answer["silenceID"])
    return 0


def run_query(arguments: argparse.Namespace) -> int:
    query = _filters(arguments.matchers)
    path = "/api/v2/silences" + (f"?{query}" if query else "")
    silences = request_json(arguments.server, "GET", path, timeout=arguments.timeout)
    wanted = [s for s in silences if (s["status"]["state"] == "expired") == bool(arguments.expired)]
    if arguments.format == "json":
        print(json.dumps(wanted, indent=2))
    elif arguments.quiet:
        for silence in wanted:
            print(silence["id"])
    else:
        print(render_silences(wanted), end="")
    return 0


def run_expire(arguments: argparse.Namespace) -> int:
    for silence_id in arguments.ids:
        path = f"/api/v2/silence/{urllib.parse.quote(silence_id, safe='')}"
        request_json(arguments.server, "DELETE", path, timeout=arguments.timeout)
    return 0


def format_matcher(matcher: dict[str, Any]) -> str:
    """A matcher of the API as text: ``name="value"``, ``name=~"re"``..."""
    op = ("=" if matcher.get("isEqual", True) else "!") + ("~" if matcher["isRegex"] else "")
    if op == "!":
        op = "!="
    return f"{matcher['name']}{op}{json.dumps(matcher['value'])}"


def render_silences(silences: list[dict[str, Any]]) -> str:
    """amtool's table: id, matchers, end, author, comment."""
    rows = [["ID", "Matchers", "Ends At", "Created By", "Comment"]]
    for silence in silences:
        matchers = " ".join(format_matcher(m) for m in silence["matchers"])
        ends = silence["endsAt"].replace("T", " ").split(".")[0].rstrip("Z") + " UTC"
        rows.append([silence["id"], matchers, ends, silence["createdBy"], silence["comment"]])
    return render_table(rows)


def render_table(rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in rows
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
