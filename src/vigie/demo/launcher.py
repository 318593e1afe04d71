"""Run the demo: the FAQ assistant, its simulated LLM and the traffic generator, on one command.

:func:`build_demo_app` assembles the app and what it needs: the LLM simulator (in a thread, on a
free port; OpenAI itself when ``OPENAI_API_KEY`` is set), its behaviour (the levers of the LLM
drills), the history database and, when asked, logs and traces to an OTLP endpoint. The lead's
incident drills use it as well as :func:`run_demo`.

The listening socket is bound before uvicorn starts, so a busy port is a clear
:class:`~vigie.exceptions.ConfigurationError` rather than a log line and an exit. uvicorn runs in
the calling (main) thread, where it handles Ctrl-C and SIGTERM itself; the traffic generator runs
in a thread that starts once the server is up. When ``duration`` is given, a watcher stops the
traffic first (so no request is cut), then asks uvicorn to exit. Either way every thread started
here (traffic, watcher, simulator) is stopped and joined before :func:`run_demo` returns.

Example::

    from vigie.demo.launcher import DemoOptions, run_demo

    run_demo(DemoOptions(port=8000, duration=30))
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from vigie.environment_variables import VIGIE_DEMO_PASSWORD
from vigie.exceptions import ConfigurationError

if TYPE_CHECKING:
    import uvicorn

    from vigie.demo.llm_backend import SimulatedBehaviour
    from vigie.demo.llm_simulator import LLMSimulator
    from vigie.demo.traffic import TrafficGenerator

__all__ = ["DemoApp", "DemoOptions", "build_demo_app", "run_demo"]

_STARTUP_TIMEOUT = 30.0
_APPS = ("faq", "example")


@dataclass(frozen=True)
class DemoOptions:
    """What ``vigie demo`` runs: which app, where it listens, for how long, how much traffic.

    ``app`` is ``faq`` (the FAQ assistant) or ``example`` (the minimal HTTP-only app);
    ``day_seconds`` compresses a day of traffic (None: a flat rate); ``vigie_url`` receives
    quality samples; ``otlp_endpoint`` logs and traces; ``database_url`` and ``schema_behind``
    set up the history database (``schema_behind=1`` starts the ``schema`` drill);
    ``drill_token`` fixes the token of ``/_drill`` (default: generated).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    duration: float | None = None
    rate: float = 8.0
    traffic: bool = True
    app: str = "faq"
    day_seconds: float | None = 600.0
    vigie_url: str | None = None
    otlp_endpoint: str | None = None
    database_url: str | None = None
    schema_behind: int = 0
    drill_token: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"port must be in 0..65535, got {self.port}", field="--port")
        if self.duration is not None and not self.duration > 0:
            raise ConfigurationError(
                f"duration must be > 0 seconds, got {self.duration}", field="--duration"
            )
        if not self.rate > 0:
            raise ConfigurationError(
                f"rate must be > 0 requests/s, got {self.rate}", field="--rate"
            )
        if self.app not in _APPS:
            raise ConfigurationError(
                f"app must be one of {', '.join(_APPS)}, got {self.app!r}", field="--app"
            )
        if self.day_seconds is not None and not self.day_seconds > 0:
            raise ConfigurationError(
                f"day length must be > 0 seconds, got {self.day_seconds}", field="--day-seconds"
            )
        if self.schema_behind < 0:
            raise ConfigurationError(
                f"schema_behind must be >= 0, got {self.schema_behind}", field="--schema-behind"
            )


@dataclass
class DemoApp:
    """The app to serve and what it runs on; :meth:`close` stops what was started."""

    app: Any
    simulator: LLMSimulator | None = None
    behaviour: SimulatedBehaviour | None = None
    configured_telemetry: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def drill_token(self) -> str | None:
        """The token of ``/_drill`` (None for the example app)."""
        service = getattr(self.app.state, "faq", None)
        return None if service is None else str(service.drills.token)

    @property
    def password(self) -> str | None:
        """The password of the ``demo`` user of ``/login`` (None for the example app)."""
        service = getattr(self.app.state, "faq", None)
        return None if service is None else str(service.password)

    def close(self) -> None:
        """Stop the simulator and flush telemetry (the app closes itself at shutdown)."""
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None
        if self.configured_telemetry:
            from vigie.sdk.configuration import shutdown

            shutdown()
            self.configured_telemetry = False


def build_demo_app(options: DemoOptions) -> DemoApp:
    """The app of ``options`` with its LLM simulator started (stop it with ``close()``)."""
    if options.app == "example":
        from vigie.demo.example_app import create_app

        return DemoApp(create_app(seed=options.seed))
    from vigie.demo.faq_app import FaqSettings, create_faq_app
    from vigie.demo.llm_backend import SimulatedBehaviour
    from vigie.demo.llm_simulator import LLMSimulator

    demo = DemoApp(app=None)
    try:
        if options.otlp_endpoint:
            import vigie

            vigie.configure(
                "vigie-demo-faq",
                otlp_endpoint=options.otlp_endpoint,
                logs={"stream": "none", "otlp": True},
                traces=True,
            )
            demo.configured_telemetry = True
        base_url = None
        if not os.environ.get("OPENAI_API_KEY"):
            demo.behaviour = SimulatedBehaviour(seed=options.seed)
            demo.simulator = LLMSimulator(responder=demo.behaviour).start()
            base_url = demo.simulator.openai_base_url
        settings = FaqSettings(
            database_url=options.database_url,
            schema_behind=options.schema_behind,
            llm_base_url=base_url,
            vigie_url=options.vigie_url,
            drill_token=options.drill_token,
            seed=options.seed,
        )
        demo.app = create_faq_app(settings, behaviour=demo.behaviour)
    except BaseException:
        demo.close()
        raise
    return demo


def run_demo(options: DemoOptions, *, out: TextIO | None = None) -> int:
    """Serve the demo app with traffic until Ctrl-C or ``options.duration``; exit code."""
    import uvicorn

    from vigie.demo.traffic import TrafficGenerator

    out = out if out is not None else sys.stdout
    listener = _listen(options.host, options.port)
    try:
        demo = build_demo_app(options)
    except BaseException:
        listener.close()
        raise
    base_url = f"http://{_display_host(options.host)}:{listener.getsockname()[1]}"
    config = uvicorn.Config(
        demo.app, log_level="warning", access_log=False, timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
    _print_banner(out, base_url, options, demo)

    stop, done = threading.Event(), threading.Event()
    service = getattr(demo.app.state, "faq", None)
    generator = TrafficGenerator(
        base_url,
        rate=options.rate,
        progress=out,
        mix=options.app,
        day_seconds=options.day_seconds,
        drills=service.drills.active if service is not None else None,
        password=demo.password,
        seed=options.seed,
    )
    traffic = threading.Thread(
        target=_drive, args=(server, generator, stop), name="vigie-demo-traffic", daemon=True
    )
    watcher = threading.Thread(
        target=_watch, args=(server, options.duration, stop, done, traffic),
        name="vigie-demo-watcher", daemon=True,
    )  # fmt: skip
    started = time.monotonic()
    interrupted = False
    try:
        if options.traffic:
            traffic.start()
        watcher.start()
        server.run(sockets=[listener])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down
        interrupted = True
    finally:
        done.set()
        stop.set()
        if traffic.is_alive():
            traffic.join(generator.timeout + 2)
        watcher.join(5)
        listener.close()
        demo.close()
    how = "interrupted" if interrupted else "stopped"
    print(f"vigie demo: {how} after {time.monotonic() - started:.1f} s", file=out, flush=True)
    if options.traffic:
        print(generator.stats.summary(), file=out, flush=True)
    return 0 if server.started else 1


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        reason = error.strerror or str(error)
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {reason}; choose another port with --port",
            field="--port",
        ) from None
    return listener


def _display_host(host: str) -> str:
    """The address a browser on this machine should open for ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _print_banner(out: TextIO, base_url: str, options: DemoOptions, demo: DemoApp) -> None:
    name = "FAQ assistant" if options.app == "faq" else "example FAQ app"
    lines = [
        f"vigie demo: {name} at {base_url}",
        f"  metrics  {base_url}/metrics",
        f"  health   {base_url}/health",
        f"  docs     {base_url}/docs",
    ]
    if options.app == "faq":
        llm = demo.simulator.openai_base_url if demo.simulator else "OpenAI (OPENAI_API_KEY)"
        lines += [
            f"  llm      {llm}" + (" (simulated)" if demo.simulator else ""),
            "  login    user demo, password "
            + ("from VIGIE_DEMO_PASSWORD" if VIGIE_DEMO_PASSWORD.read() else f"{demo.password}"),
            f"  drills   POST {base_url}/_drill/NAME with 'Authorization: Bearer "
            f'{demo.drill_token}\' and {{"active": true}}',
        ]
        if options.vigie_url:
            lines.append(f"  quality  samples to {options.vigie_url}")
    if options.traffic:
        shape = f", daily cycle of {options.day_seconds:g} s" if options.day_seconds else ""
        lines.append(f"traffic: up to {options.rate:g} requests/s{shape}")
    until = f"for {options.duration:g} s, or " if options.duration else ""
    lines.append(f"running {until}until Ctrl-C")
    print("\n".join(lines), file=out, flush=True)


def _drive(server: uvicorn.Server, generator: TrafficGenerator, stop: threading.Event) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while not server.started:
        if stop.wait(0.05) or time.monotonic() > deadline:
            return
    generator.run(stop)


def _watch(
    server: uvicorn.Server,
    duration: float | None,
    stop: threading.Event,
    done: threading.Event,
    traffic: threading.Thread,
) -> None:
    """Stop the traffic when uvicorn starts shutting down (Ctrl-C) or when the duration is over."""
    ends_at = time.monotonic() + duration if duration is not None else float("inf")
    while not done.wait(0.1):
        if server.should_exit:
            stop.set()  # Ctrl-C: stop sending before uvicorn closes the connections
            return
        if time.monotonic() >= ends_at:
            stop.set()  # traffic first, so that no request is cut by the shutdown
            if traffic.is_alive():
                traffic.join(15)
            server.should_exit = True
            return
