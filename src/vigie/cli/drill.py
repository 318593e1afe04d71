"""``vigie drill NAME``: play an incident against a running ``vigie demo`` and watch vigie react.

NAME is one of ``latency``, ``errors``, ``llm-errors``, ``cost``, ``drift``, ``down``, ``auth``,
``schema`` (or ``all``). Each drill injects its fault, shows the matching alert going pending
then firing and its notification delivered to the demo's webhook sink (with the runbook link),
then heals the fault and shows the resolved notification. The ``schema`` drill also runs
``vigie doctor``'s health and Alembic checks, which pinpoint the migration not applied.
Exit code 0 when every drill passed, 1 otherwise. See docs/demo.md.

Example::

    $ vigie drill errors
    drill errors: half of /ask and /classify fail with 500; expecting HTTPErrorRatioHigh
      +   0.1s  injected: 50% of /ask and /classify fail with 500
      +  14.2s  alert HTTPErrorRatioHigh pending
      ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["diagnose_schema", "register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie drill``."""
    from vigie.demo.drill_runner import DRILL_NAMES

    parser = subparsers.add_parser(
        "drill",
        help="play an incident drill against a running `vigie demo`",
        description="Inject a fault into the running demo, watch its alert fire and its "
        "notifications arrive, heal it and watch the alert resolve.",
    )
    parser.add_argument("name", choices=(*DRILL_NAMES, "all"), help="the drill to play")
    parser.add_argument(
        "--data-dir", default="vigie-demo", metavar="DIR",
        help="the data directory of the running demo (default: ./vigie-demo)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS",
        help="give up waiting for an alert or notification after this long "
        "(default: from the demo's time compression)",
    )  # fmt: skip
    parser.set_defaults(handler=run)


def diagnose_schema(state: object) -> list[str]:
    """``vigie doctor``'s findings on the app's health and its database's Alembic revision."""
    import httpx

    from vigie.cli._doctor_checks import check_health, check_schema
    from vigie.cli._doctor_findings import Severity
    from vigie.demo.supervisor import DemoState

    assert isinstance(state, DemoState)
    with httpx.Client(timeout=5) as client:
        findings = check_health(client, state.app_url)
    findings += check_schema(state.database_url, state.migrations)
    lines = []
    for finding in findings:
        if finding.severity >= Severity.WARNING:
            action = f" -> {finding.action}" if finding.action else ""
            lines.append(
                f"doctor {finding.severity.label} {finding.check}: {finding.message}{action}"
            )
    return lines


def run(arguments: argparse.Namespace) -> int:
    """Play the drill(s); 0 when all passed."""
    import httpx

    from vigie.demo.drill_runner import DRILL_NAMES, DrillError, print_summary, run_drill
    from vigie.demo.supervisor import STATE_FILE, DemoState

    state = DemoState.read(Path(arguments.data_dir) / STATE_FILE)
    names = DRILL_NAMES if arguments.name == "all" else (arguments.name,)
    results = []
    failed = 0
    for name in names:
        try:
            results.append(
                run_drill(
                    name,
                    state,
                    out=sys.stdout,
                    diagnose=diagnose_schema if name == "schema" else None,
                    timeout=arguments.timeout,
                )
            )
        except DrillError as error:
            print(f"drill {name}: FAILED: {error}", file=sys.stdout, flush=True)
            failed += 1
        except httpx.HTTPError as error:
            reason = f"{type(error).__name__}: {error}"
            print(f"drill {name}: FAILED: the demo does not answer ({reason}); "
                  "is `vigie demo` still running?", flush=True)  # fmt: skip
            failed += 1
    if len(names) > 1:
        print_summary(results)
    return 1 if failed else 0
