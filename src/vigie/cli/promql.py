"""``vigie promql test FILE...``: run Prometheus PromQL test scripts against vigie's engine.

Prints one line per file, ``FILE: N passed, N failed, N skipped``, then the details of each failed
case (query, expected, got); exits 1 when any case failed, 2 when a file cannot be read or parsed.

Example::

    $ vigie promql test ../shared/conformance/promql/functions.test
    ../shared/conformance/promql/functions.test: 262 passed, 0 failed, 169 skipped
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run_test"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie promql``."""
    parser = subparsers.add_parser("promql", help="PromQL tools: run test scripts")
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    test = actions.add_parser(
        "test", help="run PromQL test-script files (Prometheus's load/eval format)"
    )
    test.add_argument("files", nargs="+", metavar="FILE", help="test-script files")
    test.add_argument("--show-skipped", action="store_true", help="also list skipped cases and why")
    test.set_defaults(handler=run_test)
    parser.set_defaults(handler=lambda _arguments: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_test(arguments: argparse.Namespace) -> int:
    """Run every file; 0 when all cases pass or are skipped, 1 on a failure, 2 on bad input."""
    from vigie.query.conformance import ScriptError, run_file

    status = 0
    for path in arguments.files:
        try:
            report = run_file(path)
        except (OSError, ScriptError) as error:
            print(f"{path}: error: {error}", file=sys.stderr)
            status = max(status, 2)
            continue
        print(report.summary())
        for result in report.results:
            if result.status == "failed":
                status = max(status, 1)
                print(f"  FAILED {result.case.name}: {result.case.query}")
                print(f"    {result.detail}")
            elif result.status == "skipped" and arguments.show_skipped:
                print(f"  skipped {result.case.name}: {result.detail}")
    return status
