"""The ``vigie`` command. Each sibling module of this one adds a subcommand.

A module ``vigie/cli/<name>.py`` defines ``register(subparsers)``, which adds its parser and sets
``handler`` (a callable taking the parsed namespace and returning an exit code) as a default.
Discovery keeps this file free of every subcommand's imports, so ``vigie --help`` stays fast.

Example::

    $ vigie --version
    vigie 0.1.0
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from typing import Protocol, cast

import vigie
from vigie.exceptions import VigieError

__all__ = ["build_parser", "main"]


class _CommandModule(Protocol):
    def register(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        """Add this module's subcommand."""


def build_parser() -> argparse.ArgumentParser:
    """The full parser, every discovered subcommand included."""
    parser = argparse.ArgumentParser(prog="vigie", description="Monitoring for AI applications.")
    parser.add_argument("--version", action="version", version=f"vigie {vigie.__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    package = importlib.import_module("vigie.cli")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda item: item.name):
        if info.name == "main" or info.name.startswith("_"):
            continue
        module = cast(_CommandModule, importlib.import_module(f"vigie.cli.{info.name}"))
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vigie`` command; returns the process exit code."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    handler = cast(Callable[[argparse.Namespace], int] | None, getattr(arguments, "handler", None))
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(arguments)
    except VigieError as error:
        print(f"vigie: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
