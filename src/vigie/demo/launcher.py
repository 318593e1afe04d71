"""Run the demo: the example app under uvicorn, with the traffic generator beside it.

The listening socket is bound here, before uvicorn starts, so a busy port is a clear
:class:`~vigie.exceptions.ConfigurationError` rather than a log line and an exit. uvicorn runs in
the calling (main) thread, where it handles Ctrl-C and SIGTERM itself; the traffic generator runs
in a thread that starts once the server is up. When ``duration`` is given, a watcher stops the
traffic first (so no request is cut), then asks uvicorn to exit. Either way every thread started
here is stopped and joined before :func:`run_demo` returns.

Example::

    from vigie.demo.launcher import DemoOptions, run_demo

    run_demo(DemoOptions(port=8000, duration=30))
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from vigie.exceptions import ConfigurationError

if TYPE_CHECKING:
    import uvicorn

    from vigie.demo.traffic import TrafficGenerator

__all__ = ["DemoOptions", "run_demo"]

_STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class DemoOptions:
    """What ``vigie demo`` runs: where it listens, for how long, and how much traffic."""

    host: str = "127.0.0.1"
    port: int = 8000
    duration: float | None = None
    rate: float = 8.0
    traffic: bool = True

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


def run_demo(options: DemoOptions, *, out: TextIO | None = None) -> int:
    """Serve the example app with traffic until Ctrl-C or ``options.duration``; exit code."""
    import uvicorn

    from vigie.demo.example_app import create_app
    from vigie.demo.traffic import TrafficGenerator

    out = out if out is not None else sys.stdout
    listener = _listen(options.host, options.port)
    base_url = f"http://{_display_host(options.host)}:{listener.getsockname()[1]}"
    config = uvicorn.Config(
        create_app(), log_level="warning", access_log=False, timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
    _print_banner(out, base_url, options)

    stop, done = threading.Event(), threading.Event()
    generator = TrafficGenerator(base_url, rate=options.rate, progress=out)
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


def _print_banner(out: TextIO, base_url: str, options: DemoOptions) -> None:
    lines = [
        f"vigie demo: example FAQ app at {base_url}",
        f"  metrics  {base_url}/metrics",
        f"  health   {base_url}/health",
        f"  docs     {base_url}/docs",
    ]
    if options.traffic:
        lines.append(f"traffic: up to {options.rate:g} requests/s")
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
