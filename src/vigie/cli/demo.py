"""``vigie demo``: the instrumented FAQ assistant under generated traffic, on one command.

It serves the FAQ assistant (:mod:`vigie.demo.faq_app`) with uvicorn, its simulated LLM
(:mod:`vigie.demo.llm_simulator`; OpenAI when ``OPENAI_API_KEY`` is set), drives it with the
traffic generator, and prints where to look: ``/metrics``, ``/health``, ``/docs``, the drill
switches and the demo login. It runs until Ctrl-C, or for ``--duration`` seconds, then shuts
down everything it started and exits 0.

Example::

    $ vigie demo --port 8000 --duration 60
    vigie demo: FAQ assistant at http://127.0.0.1:8000
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
        help="run the instrumented FAQ assistant demo under generated traffic",
        description="Serve the FAQ assistant demo (FAISS retrieval, a simulated LLM, SQLite "
        "history), instrumented with vigie, and send it traffic until Ctrl-C (or --duration "
        "seconds).",
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
    parser.add_argument(
        "--app", choices=("faq", "example"), default="faq",
        help="faq: the FAQ assistant (default); example: the minimal HTTP-only app",
    )  # fmt: skip
    parser.add_argument(
        "--day-seconds", type=float, default=600.0, metavar="SECONDS",
        help="length of the compressed traffic day (default: 600); 0 for a flat rate",
    )  # fmt: skip
    parser.add_argument(
        "--vigie-url", metavar="URL",
        help="vigie server receiving quality samples, e.g. http://127.0.0.1:9800 (default: off)",
    )  # fmt: skip
    parser.add_argument(
        "--otlp-endpoint", metavar="URL",
        help="send logs and traces to this OTLP/HTTP endpoint (default: off)",
    )  # fmt: skip
    parser.add_argument(
        "--database-url", metavar="URL",
        help="SQLAlchemy URL of the history database (default: SQLite in a temporary folder)",
    )  # fmt: skip
    parser.add_argument(
        "--schema-behind", type=int, default=0, metavar="N",
        help="start the database N Alembic revisions behind head (the schema drill)",
    )  # fmt: skip
    parser.add_argument(
        "--drill-token", metavar="TOKEN",
        help="token of the drill switches POST /_drill/NAME (default: generated and printed)",
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
        app=arguments.app,
        day_seconds=arguments.day_seconds or None,
        vigie_url=arguments.vigie_url,
        otlp_endpoint=arguments.otlp_endpoint,
        database_url=arguments.database_url,
        schema_behind=arguments.schema_behind,
        drill_token=arguments.drill_token,
    )
    return run_demo(options)
