"""``vigie alerts``: list the alerts a running server routes, as ``amtool alert query``.

Reads Alertmanager's ``GET /api/v2/alerts`` (so ``--server`` may be a real Alertmanager too).
By default only active alerts are shown; ``--silenced`` and ``--inhibited`` add the muted ones.

Example::

    $ vigie alerts
    Alertname   Starts At                Summary                            State
    TargetDown  2026-11-21 18:04:36 UTC  app target 10.0.0.7:8000 is down   active
    $ vigie alerts severity=critical --silenced --format json
"""

from __future__ import annotations

import argparse
import json
import urllib.parse
from typing import Any

from vigie.cli.silence import DEFAULT_SERVER, parse_matcher, render_table, request_json

__all__ = ["register", "render_alerts"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie alerts``."""
    parser = subparsers.add_parser(
        "alerts",
        help="list the alerts of a running server",
        description="List alerts (matching MATCHER...), as amtool alert query.",
    )
    parser.add_argument("matchers", nargs="*", metavar="MATCHER", help="e.g. severity=critical")
    parser.add_argument("-s", "--silenced", action="store_true", help="include silenced alerts")
    parser.add_argument("-i", "--inhibited", action="store_true", help="include inhibited alerts")
    parser.add_argument(
        "--receiver", default="", help="only alerts routed to this receiver (regex)"
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("--server", default=DEFAULT_SERVER, metavar="URL",
                        help=f"server base URL (default: {DEFAULT_SERVER})")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    for text in arguments.matchers:
        parse_matcher(text)  # a typo fails here, with the matcher named
    params = [("filter", text) for text in arguments.matchers]
    params += [
        ("active", "true"),
        ("silenced", str(arguments.silenced).lower()),
        ("inhibited", str(arguments.inhibited).lower()),
    ]
    if arguments.receiver:
        params.append(("receiver", arguments.receiver))
    path = "/api/v2/alerts?" + urllib.parse.urlencode(params)
    alerts = request_json(arguments.server, "GET", path, timeout=arguments.timeout)
    if arguments.format == "json":
        print(json.dumps(alerts, indent=2))
    else:
        print(render_alerts(alerts), end="")
    return 0


def render_alerts(alerts: list[dict[str, Any]]) -> str:
    """amtool's table: name, start, summary, state."""
    rows = [["Alertname", "Starts At", "Summary", "State"]]
    for alert in alerts:
        starts = alert["startsAt"].replace("T", " ").split(".")[0].rstrip("Z") + " UTC"
        rows.append(
            [
                alert["labels"].get("alertname", ""),
                starts,
                alert.get("annotations", {}).get("summary", ""),
                alert["status"]["state"],
            ]
        )
    return render_table(rows)
