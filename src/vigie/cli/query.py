"""``vigie query``: run a PromQL query against a running server's HTTP API.

It speaks the Prometheus HTTP API only, so it works against Prometheus too.

Example::

    $ vigie query 'sum by (job) (up)'
    $ vigie query 'rate(http_requests_total[5m])' --range --start -1h --step 1m --format csv
    $ vigie query up --server http://prometheus:9090 --format json
    $ vigie query up --server https://vigie.example.org:9800 --token-file viewer-token \\
          --ca-file cert.pem
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import time
from datetime import UTC, datetime
from typing import Any

from vigie.cli._server_access import (
    add_access_arguments,
    connection_hint,
    refusal_hint,
    server_access,
)

__all__ = ["parse_when", "register", "render"]

DEFAULT_SERVER = "http://127.0.0.1:9800"
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie query``."""
    parser = subparsers.add_parser(
        "query",
        help="run a PromQL query against a running server",
        description="Evaluate EXPR on a vigie (or Prometheus) server and print the result.",
    )
    parser.add_argument("expr", metavar="EXPR", help="the PromQL expression")
    parser.add_argument("--range", action="store_true", help="run a range query")
    parser.add_argument("--time", help="instant query time (RFC 3339, Unix seconds, now, -5m)")
    parser.add_argument("--start", help="range start (default: 1h before --end)")
    parser.add_argument("--end", help="range end (default: now)")
    parser.add_argument("--step", help="range resolution, e.g. 15s (default: range / 250)")
    parser.add_argument(
        "--format", choices=["table", "csv", "json"], default="table",
        help="output format (default: table)",
    )  # fmt: skip
    parser.add_argument(
        "--server", default=DEFAULT_SERVER, metavar="URL",
        help=f"server base URL (default: {DEFAULT_SERVER})",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default: 60)")
    add_access_arguments(parser)
    parser.set_defaults(handler=run)


def parse_when(text: str, now: float) -> float:
    """Unix seconds from ``now``, ``-1h`` (relative), Unix seconds, or an RFC 3339 date."""
    text = text.strip()
    if text == "now":
        return now
    if text.startswith("-") and text[-1:].isalpha():
        return now - _seconds(text[1:])
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"cannot parse time {text!r}") from None


def _seconds(text: str) -> float:
    total = 0.0
    number = ""
    index = 0
    while index < len(text):
        char = text[index]
        if char.isdigit() or char == ".":
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        if unit not in _UNITS or not number:
            raise ValueError(f"cannot parse duration {text!r}")
        total += float(number) * _UNITS[unit]
        number = ""
        index += len(unit)
    if number:
        total += float(number)
    return total


def run(arguments: argparse.Namespace) -> int:
    """Query the server and print; 1 on any error."""
    import httpx

    now = time.time()
    try:
        params = _params(arguments, now)
    except ValueError as error:
        print(f"vigie: error: {error}", file=sys.stderr)
        return 2
    access = server_access(arguments)
    path = "/api/v1/query_range" if arguments.range else "/api/v1/query"
    url = arguments.server.rstrip("/") + path
    try:
        response = httpx.post(
            url, data=params, timeout=arguments.timeout,
            headers=access.headers, verify=access.verify,
        )  # fmt: skip
        hint = refusal_hint(response.status_code, access)
        if hint is not None:
            print(f"vigie: error: {url}: {hint}", file=sys.stderr)
            return 1
        body = response.json()
    except httpx.HTTPError as error:
        print(f"vigie: error: cannot reach {arguments.server}: {error}{connection_hint(error)}",
              file=sys.stderr)  # fmt: skip
        return 1
    except ValueError:
        print(f"vigie: error: {url} answered HTTP {response.status_code}, not JSON",
              file=sys.stderr)  # fmt: skip
        return 1
    if body.get("status") != "success":
        print(f"vigie: error: {body.get('errorType')}: {body.get('error')}", file=sys.stderr)
        return 1
    for warning in body.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    sys.stdout.write(render(body["data"], arguments.format))
    return 0


def _params(arguments: argparse.Namespace, now: float) -> dict[str, str]:
    params = {"query": arguments.expr}
    if not arguments.range:
        if arguments.time:
            params["time"] = _format(parse_when(arguments.time, now))
        return params
    end = parse_when(arguments.end, now) if arguments.end else now
    start = parse_when(arguments.start, now) if arguments.start else end - 3600
    step = _seconds(arguments.step) if arguments.step else max(1.0, math.ceil((end - start) / 250))
    params.update(start=_format(start), end=_format(end), step=_format(step))
    return params


def _format(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def render(data: dict[str, Any], output: str) -> str:
    """The API's ``data`` as a table, CSV or JSON text."""
    if output == "json":
        return json.dumps(data, indent=2) + "\n"
    rows = _rows(data)
    names = sorted({name for labels, _, _ in rows for name in labels})
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["timestamp", "value", *names])
        for labels, timestamp, value in rows:
            writer.writerow([timestamp, value, *(labels.get(name, "") for name in names)])
        return buffer.getvalue()
    table = [["SERIES", "VALUE", "TIME"]]
    for labels, timestamp, value in rows:
        table.append([_series_name(labels), value, _iso(timestamp)])
    widths = [max(len(row[column]) for row in table) for column in range(3)]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in table
    )


def _rows(data: dict[str, Any]) -> list[tuple[dict[str, str], str, str]]:
    kind = data.get("resultType")
    result = data.get("result")
    if kind in ("scalar", "string"):
        return [({}, str(result[0]), str(result[1]))]  # type: ignore[index]
    rows = []
    for item in result or []:
        points = [item["value"]] if kind == "vector" else item["values"]
        for timestamp, value in points:
            rows.append((item["metric"], str(timestamp), value))
    return rows


def _series_name(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def _iso(timestamp: str) -> str:
    moment = datetime.fromtimestamp(float(timestamp), tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
