"""``vigie drift``: print the drift report, set or reset a model's reference window.

The report is read from a running server (``--server``, endpoint ``/api/v1/quality/report``)
or computed from a data directory (``--data-dir``, default ``./vigie-data``) without writing
anything. Reference windows are changed in the data directory (stop the server first, or it
may overwrite the change at its next check).

Example::

    $ vigie drift report --data-dir vigie-data
    $ vigie drift report --server http://127.0.0.1:9800 --format json
    $ vigie drift reference set --model intent --from 2026-11-01T00:00:00Z --to 2026-11-08T00:00:00Z
    $ vigie drift reference reset --model intent
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from vigie.cli.query import parse_when
from vigie.exceptions import ConfigurationError

__all__ = ["register", "render_report"]

DEFAULT_DATA_DIR = "vigie-data"
REPORT_PATH = "/api/v1/quality/report"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie drift``."""
    parser = subparsers.add_parser(
        "drift",
        help="drift report and reference windows",
        description="Print the drift report; set or reset a model's reference window.",
    )
    commands = parser.add_subparsers(title="drift commands", metavar="COMMAND")
    report = commands.add_parser("report", help="print the current drift report")
    source = report.add_mutually_exclusive_group()
    source.add_argument("--data-dir", metavar="DIR", help=f"default: ./{DEFAULT_DATA_DIR}")
    source.add_argument("--server", metavar="URL", help="a running vigie server's base URL")
    report.add_argument("--format", choices=["table", "json"], default="table")
    report.add_argument("--timeout", type=float, default=30.0, help="seconds (with --server)")
    report.set_defaults(handler=run_report)

    reference = commands.add_parser("reference", help="set or reset a reference window")
    actions = reference.add_subparsers(title="reference commands", metavar="ACTION")
    setter = actions.add_parser("set", help="mark a good period as the model's reference")
    setter.add_argument("--model", required=True)
    setter.add_argument("--from", dest="start", required=True, help="RFC 3339, Unix s or -7d")
    setter.add_argument("--to", dest="end", required=True, help="RFC 3339, Unix s, -1d or now")
    setter.add_argument("--data-dir", metavar="DIR", default=DEFAULT_DATA_DIR)
    setter.set_defaults(handler=run_reference_set)
    resetter = actions.add_parser("reset", help="go back to the trailing reference window")
    resetter.add_argument("--model", required=True)
    resetter.add_argument("--data-dir", metavar="DIR", default=DEFAULT_DATA_DIR)
    resetter.set_defaults(handler=run_reference_reset)
    parser.set_defaults(handler=lambda _: _usage(parser))
    reference.set_defaults(handler=lambda _: _usage(reference))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _service(data_dir: str) -> Any:
    from vigie.quality.service import QualityService

    def no_store() -> Any:
        raise ConfigurationError("the CLI does not write series")

    return QualityService(data_dir, no_store)


def _fetch(server: str, timeout: float) -> dict[str, Any]:
    url = server.rstrip("/") + REPORT_PATH
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"expected an http(s) URL, got {server!r}", field="--server")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            envelope = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ConfigurationError(f"cannot read {url}: {error}", field="--server") from None
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{url} did not answer a quality report", field="--server")
    return data


def run_report(arguments: argparse.Namespace) -> int:
    if arguments.server:
        report = _fetch(arguments.server, arguments.timeout)
    else:
        report = _service(arguments.data_dir or DEFAULT_DATA_DIR).evaluate()
    if arguments.format == "json":
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(render_report(report), end="")
    return 0


def run_reference_set(arguments: argparse.Namespace) -> int:
    now = time.time()
    try:
        start, end = parse_when(arguments.start, now), parse_when(arguments.end, now)
    except ValueError as error:
        raise ConfigurationError(str(error), field="--from/--to") from None
    summary = _service(arguments.data_dir).set_reference(arguments.model, start, end)
    print(
        f"reference of {arguments.model}: {_when(start)} .. {_when(end)}, "
        f"{summary['samples']} samples so far"
    )
    return 0


def run_reference_reset(arguments: argparse.Namespace) -> int:
    _service(arguments.data_dir).reset_reference(arguments.model)
    print(f"reference of {arguments.model}: trailing window")
    return 0


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_report(report: dict[str, Any]) -> str:
    """The report as a text table, one line per feature test."""
    lines = []
    if report.get("time") is not None:
        lines.append(f"drift report at {_when(float(report['time']))}")
    models = report.get("models") or []
    if not models:
        lines.append("no model has sent samples yet")
    for model in models:
        verdict = "DRIFTING" if model["drifted"] else "ok"
        reference = model.get("reference", {})
        lines.append("")
        lines.append(
            f"model {model['model']}: {verdict}, {model['drift_share']:.0%} of features drifted "
            f"(threshold {model['drift_share_threshold']:.0%}); reference "
            f"{reference.get('kind', 'trailing')}, {model['reference_samples']} samples; "
            f"current {model['current_samples']} samples"
        )
        # "evidently": Evidently's verdict for the method (informational); "drift": the alarm.
        rows = [
            ("feature", "method", "score", "threshold", "evidently", "effect", "adj_p", "drift")
        ]
        for feature in model["features"]:
            adjusted = feature.get("adjusted_p_value")
            rows.append(
                (
                    feature["feature"],
                    feature["method"],
                    f"{feature['score']:.4g}",
                    f"{feature['threshold']:g}",
                    "yes" if feature.get("significant") else "no",
                    f"{feature.get('effect_method', '')}={feature.get('effect', 0.0):.3g}",
                    "-" if adjusted is None else f"{adjusted:.2g}",
                    "yes" if feature["drifted"] else "no",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines.extend(
            "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows
        )
        for name, value in sorted(model.get("ratios", {}).items()):
            lines.append(f"  {name} = {value:.3f}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from vigie.cli.main import main

    sys.exit(main(["drift", *sys.argv[1:]]))
