"""``vigie stack export``: write (or check) the production stack for a vigie configuration.

Example::

    $ vigie stack export --config vigie.yml --routing alertmanager.yml --output deploy/
    wrote 17 files to deploy/ (secrets in deploy/.env, mode 0600)
    $ vigie stack export --config vigie.yml --routing alertmanager.yml --output deploy/ --check
    deploy/ is up to date

Exit codes: 0 done (or no drift), 1 drift found with ``--check``, 2 invalid configuration.
Warnings (an apprise URL with no Alertmanager equivalent, no routing file) go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register", "run_export"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie stack export``."""
    parser = subparsers.add_parser(
        "stack",
        help="export the production stack (Prometheus, Alertmanager, Grafana, Loki, Tempo)",
        description="Turn the vigie configuration into a ready Prometheus/Grafana stack.",
    )
    commands = parser.add_subparsers(title="stack commands", metavar="COMMAND")
    export = commands.add_parser(
        "export",
        help="write the stack's files, or check an exported folder for drift",
        description="Write prometheus.yml, rules, alertmanager.yml, Grafana provisioning, Loki, "
        "Tempo and docker-compose.yml. Deterministic: same input, same bytes.",
    )
    export.add_argument("--config", required=True, metavar="FILE", help="vigie configuration")
    export.add_argument("--routing", metavar="FILE", help="routing file (alertmanager.yml format)")
    export.add_argument("--output", required=True, metavar="DIR", help="folder to write")
    export.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if DIR differs from an export"
    )
    export.set_defaults(handler=run_export)

    def usage(namespace: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(handler=usage)


def run_export(namespace: argparse.Namespace) -> int:
    """Handler of ``vigie stack export``."""
    from vigie.exceptions import VigieError
    from vigie.stack import build_stack, load_stack_config, stack_drift, write_stack

    try:
        config = load_stack_config(namespace.config)
        routing_text = None
        if namespace.routing:
            try:
                routing_text = Path(namespace.routing).read_text(encoding="utf-8")
            except OSError as error:
                print(f"{namespace.routing}: cannot read: {error.strerror}", file=sys.stderr)
                return 2
        stack = build_stack(config, routing_text, routing_source=namespace.routing or "")
    except VigieError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in stack.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    output = namespace.output
    if namespace.check:
        drift = stack_drift(stack, output)
        if drift:
            print(f"{output} differs from the configuration:\n{drift.summary()}")
            return 1
        print(f"{output} is up to date")
        return 0
    write_stack(stack, output)
    print(
        f"wrote {len(stack.files) + 1} files to {output} "
        f"(secrets in {Path(output) / '.env'}, mode 0600)"
    )
    return 0
