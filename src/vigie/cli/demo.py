"""``vigie demo``: an instrumented example app under generated traffic, on one command.

It serves the example FAQ app (:mod:`vigie.demo.example_app`) with uvicorn, drives it with the
traffic generator, and prints where to look: ``/metrics``, ``/health`` and ``/docs``. It runs until
Ctrl-C, or for ``--duration`` seconds, then shuts down cleanly and exits 0.

Example::

    $ vigie demo --port 8000 --duration 60
    vigie demo: example FAQ app at http://127.0.0.1:8000
      metrics  http://127.0.0.1:8000/metrics
      ...
"""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="run an instrumented example app under generated traffic",
        description="Serve the example FAQ app, instrumented with vigie, and send it traffic "
        "until Ctrl-C (or --duration seconds).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C)",
    )  # fmt: skip
    parser.add_argument(
        "--rate", type=float, default=8.0, metavar="PER_SECOND",
        help="most requests per second the traffic generator sends (default: 8)",
    )  # fmt: skip
    parser.add_argument(
        "--no-traffic", dest="traffic", action="store_false",
        help="serve the app without generating traffic",
    )  # fmt: skip
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    """Run the demo; returns its exit code."""
    from vigie.demo.launcher import DemoOptions, run_demo

    options = DemoOptions(
        host=arguments.host,
        port=arguments.port,
        duration=arguments.duration,
        rate=arguments.rate,
        traffic=arguments.traffic,
    )
    return run_demo(options)
