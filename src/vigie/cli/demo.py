"""``vigie demo``: the vigie server watching the instrumented FAQ assistant, on one command.

By default it runs the whole demo (:mod:`vigie.demo.supervisor`): the vigie server (a child
process, with the AI rule pack time-compressed ``--time-scale`` times, and alerts routed to a
local webhook sink that prints each notification, plus the receivers of ``--routing FILE``), the
FAQ assistant with its simulated LLM (a child process), and the traffic generator. It prints the
UI address and runs until Ctrl-C (or ``--duration``), then stops every process it started.
``vigie drill NAME`` then injects incidents into it.

``--app-only`` serves just the app (and its traffic) in this process: the old single-process demo,
and what the full demo runs as its app child.

Example::

    $ vigie demo
    vigie demo: up in 6.1 s (data in /home/me/vigie/vigie-demo)
      UI       http://127.0.0.1:9800/
      ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vigie.exceptions import ConfigurationError
from vigie.rules.packs.ai import AIPackThresholds

__all__ = ["demo_thresholds", "register", "run"]


def demo_thresholds(rate: float) -> AIPackThresholds:
    """The pack's thresholds for the demo's traffic of ``rate`` requests/s at its peak.

    The defaults, except the token rate: the demo's normal traffic spends about 4,000 tokens a
    minute per request/s, the ``cost`` drill 15 to 20 times more; the warning sits at 15,000
    (well above normal), the critical at 60,000 per request/s (reached by the drill).
    """
    return AIPackThresholds(llm_tokens_per_minute=(15_000.0 * rate, 60_000.0 * rate))


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
        "--data-dir", default="vigie-demo", metavar="DIR",
        help="where the demo keeps its server data, config, logs and state (default: ./vigie-demo)",
    )  # fmt: skip
    parser.add_argument(
        "--listen", default="127.0.0.1:9800", metavar="HOST:PORT",
        help="address of the vigie server and its UI (default: 127.0.0.1:9800)",
    )  # fmt: skip
    parser.add_argument(
        "--sink-port", type=int, default=0, metavar="PORT",
        help="port of the local webhook sink (default: a free port)",
    )  # fmt: skip
    parser.add_argument(
        "--routing", metavar="FILE",
        help="an Alertmanager routing file: its receivers get the demo's alerts too",
    )  # fmt: skip
    parser.add_argument(
        "--time-scale", type=float, default=10.0, metavar="N",
        help="compress the rule pack's windows and `for` durations N times (default: 10)",
    )  # fmt: skip
    parser.add_argument(
        "--interval", default="2s", metavar="DURATION",
        help="scrape and rule evaluation interval of the demo server (default: 2s)",
    )  # fmt: skip
    parser.add_argument(
        "--app-only", action="store_true",
        help="serve only the app (and its traffic) in this process, without server or sink",
    )  # fmt: skip
    parser.add_argument(
        "--host", default="127.0.0.1", help="address of the app (default: 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port of the app (default: 8000)")
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
    parser.add_argument(
        "--drill-token-file", metavar="PATH",
        help="read the drill token from this file (keeps it off the command line)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, help="seed of the random draws (reproducible runs)")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    """Run the demo; returns its exit code."""
    if not arguments.app_only:
        return _run_stack(arguments)
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
        drill_token=_drill_token(arguments),
        seed=arguments.seed,
    )
    return run_demo(options)


def _drill_token(arguments: argparse.Namespace) -> str | None:
    if not arguments.drill_token_file:
        return arguments.drill_token  # type: ignore[no-any-return]
    try:
        return Path(arguments.drill_token_file).read_text(encoding="utf-8").strip() or None
    except OSError as error:
        raise ConfigurationError(
            f"cannot read {arguments.drill_token_file}: {error.strerror}",
            field="--drill-token-file",
        ) from None


def _run_stack(arguments: argparse.Namespace) -> int:
    from vigie.cli.server import parse_listen
    from vigie.demo.supervisor import StackOptions, run_stack
    from vigie.rules.packs.ai import render_ai_pack

    if arguments.app != "faq":
        raise ConfigurationError("the full demo runs the faq app; use it with --app-only",
                                 field="--app")  # fmt: skip
    options = StackOptions(
        data_dir=Path(arguments.data_dir),
        server_listen=parse_listen(arguments.listen),
        app_port=arguments.port,
        sink_port=arguments.sink_port,
        routing=Path(arguments.routing) if arguments.routing else None,
        time_scale=arguments.time_scale,
        scrape_interval=arguments.interval,
        evaluation_interval=arguments.interval,
        rate=arguments.rate,
        traffic=arguments.traffic,
        day_seconds=arguments.day_seconds or None,
        duration=arguments.duration,
        drill_token=arguments.drill_token,
        seed=arguments.seed,
    )
    rules = render_ai_pack(demo_thresholds(options.rate), time_scale=options.time_scale)
    return run_stack(options, rules_text=rules)
