"""``vigie demo``: the vigie server, the demo app, a webhook sink and traffic, on one command.

:func:`run_stack` starts, in this order: the webhook sink (a thread; it also carries the control
switches of the ``down`` drill), the demo app (a child process: ``vigie demo --app-only``, with
its simulated LLM in a thread and its history in ``DATA_DIR/history.db``), the vigie server (a
child process: ``vigie server`` with the generated ``DATA_DIR/vigie.yml``: scrapes the app,
evaluates the time-compressed AI rule pack, routes alerts to the sink and to the user's
receivers). Once both answer, it writes ``DATA_DIR/demo-state.json`` (mode 0600: it holds the
drill token) for ``vigie drill``, prints the addresses, and drives the app with the traffic
generator until Ctrl-C, SIGTERM or ``duration``. Then it stops the traffic, the app and the
server (SIGTERM, then SIGKILL after ``stop_timeout``), the sink, and removes the state file.

The server's rules arrive as text (``rules_text``): the demo may not import the rule pack
(``vigie.demo`` sits below ``vigie.rules`` in the architecture); ``vigie.cli.demo`` renders it.

Example::

    run_stack(StackOptions(data_dir=Path("vigie-demo")), rules_text=render_ai_pack(time_scale=10))
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from vigie.demo.processes import ChildProcess, vigie_command
from vigie.demo.stack_config import StackFiles, write_stack_config
from vigie.demo.webhook_sink import WebhookSink
from vigie.environment_variables import VIGIE_DEMO_PASSWORD
from vigie.exceptions import ConfigurationError, VigieError

__all__ = ["STATE_FILE", "DemoState", "StackOptions", "run_stack"]

STATE_FILE = "demo-state.json"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class StackOptions:
    """What ``vigie demo`` runs and where (see ``vigie demo --help``)."""

    data_dir: Path = Path("vigie-demo")
    server_listen: tuple[str, int] = ("127.0.0.1", 9800)
    app_port: int = 8000
    sink_port: int = 0
    routing: Path | None = None
    time_scale: float = 10.0
    scrape_interval: str = "2s"
    evaluation_interval: str = "2s"
    rate: float = 8.0
    traffic: bool = True
    day_seconds: float | None = 600.0
    duration: float | None = None
    drill_token: str | None = None
    seed: int | None = None
    startup_timeout: float = 120.0
    stop_timeout: float = 10.0
    progress_interval: float | None = None

    def __post_init__(self) -> None:
        if not self.time_scale >= 1:
            raise ConfigurationError(
                f"must be >= 1 (1: real time), got {self.time_scale}", field="--time-scale"
            )
        if self.duration is not None and not self.duration > 0:
            raise ConfigurationError(
                f"must be > 0 seconds, got {self.duration}", field="--duration"
            )
        if not self.rate > 0:
            raise ConfigurationError(f"must be > 0 requests/s, got {self.rate}", field="--rate")
        for interval in (self.scrape_interval, self.evaluation_interval):
            if not _seconds(interval) > 0:
                raise ConfigurationError(f"must be > 0, got {interval!r}", field="--interval")


@dataclass(frozen=True)
class DemoState:
    """What ``vigie drill`` needs to talk to a running demo (``DATA_DIR/demo-state.json``)."""

    server_url: str
    app_url: str
    sink_url: str
    drill_token: str
    database_url: str
    migrations: str
    time_scale: float
    evaluation_interval_seconds: float
    pid: int
    children: dict[str, int] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        """Write it readable by the owner only (it holds the drill token)."""
        _write_private(path, json.dumps(asdict(self), indent=2))

    @classmethod
    def read(cls, path: Path) -> DemoState:
        """The state of the demo writing ``path``; a clear error if there is none."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigurationError(
                "no running demo found (start one with `vigie demo`, or pass --data-dir)",
                path=str(path),
            ) from None
        except (OSError, ValueError) as error:
            raise ConfigurationError(f"unreadable demo state: {error}", path=str(path)) from None
        try:
            return cls(**data)
        except TypeError as error:
            raise ConfigurationError(f"unexpected demo state: {error}", path=str(path)) from None


class _Stack:
    """The running parts; :meth:`close` stops them in reverse order."""

    def __init__(self, options: StackOptions, rules_text: str, out: TextIO) -> None:
        self.options = options
        self.out = out
        self.data_dir = options.data_dir.resolve()
        self.token = options.drill_token or secrets.token_urlsafe(18)
        self.password = VIGIE_DEMO_PASSWORD.read() or secrets.token_urlsafe(9)
        host, port = options.server_listen
        self.server_url = f"http://{_display(host)}:{port}"
        self.app_url = f"http://127.0.0.1:{options.app_port}"
        self.database_url = f"sqlite:///{self.data_dir / 'history.db'}"
        self.token_file = self.data_dir / "drill-token"
        self.rules_text = rules_text
        self.sink = WebhookSink(
            port=options.sink_port,
            out=out,
            token=self.token,
            controls={"app/stop": self.stop_app, "app/start": self.start_app},
        )
        logs = self.data_dir / "logs"
        self.app = ChildProcess(
            "app",
            vigie_command(
                # NAME=VALUE: a path or URL starting with "-" must not look like an option. The
                # token goes through a 0600 file: a command line is visible to every local user.
                "demo", "--app-only", "--no-traffic", f"--port={options.app_port}",
                f"--drill-token-file={self.token_file}", f"--database-url={self.database_url}",
                f"--vigie-url={self.server_url}", f"--otlp-endpoint={self.server_url}",
                *([f"--seed={options.seed}"] if options.seed is not None else []),
            ),
            log=logs / "app.log",
            env={"VIGIE_DEMO_PASSWORD": self.password},
        )  # fmt: skip
        self.server = ChildProcess(
            "server",
            vigie_command(
                "server", "--config", str(self.data_dir / "vigie.yml"),
                "--data-dir", str(self.data_dir / "server"),
                "--listen", f"{host}:{port}", "--log-level", "warning",
            ),
            log=logs / "server.log",
        )  # fmt: skip
        self._lock = threading.Lock()

    def stop_app(self) -> str:
        with self._lock:
            self.app.stop(self.options.stop_timeout)
        return "the demo app was stopped (SIGTERM)"

    def start_app(self) -> str:
        with self._lock:
            self.app.start()
        return f"the demo app is starting (pid {self.app.pid})"

    def start(self) -> DemoState:
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for port, flag in ((self.options.app_port, "--port"),
                           (self.options.server_listen[1], "--listen")):  # fmt: skip
            _check_free(self.options.server_listen[0] if flag == "--listen" else "127.0.0.1",
                        port, flag)  # fmt: skip
        _write_private(self.token_file, self.token)
        self.sink.start()
        write_stack_config(
            self.data_dir,
            StackFiles(
                app_address=f"127.0.0.1:{self.options.app_port}",
                sink_url=self.sink.webhook_url,
                external_url=self.server_url,
                rules_text=self.rules_text,
                scrape_interval=self.options.scrape_interval,
                evaluation_interval=self.options.evaluation_interval,
                user_routing=self.options.routing,
            ),
        )
        deadline = started + self.options.startup_timeout
        # The app first: a server scraping a target still starting would fire TargetDown.
        self.app.start()
        _wait_ready(self.app, self.app_url + "/health/live", deadline)
        self.server.start()
        _wait_ready(self.server, self.server_url + "/-/ready", deadline)
        state = DemoState(
            server_url=self.server_url,
            app_url=self.app_url,
            sink_url=self.sink.url,
            drill_token=self.token,
            database_url=self.database_url,
            migrations=str(MIGRATIONS),
            time_scale=self.options.time_scale,
            evaluation_interval_seconds=_seconds(self.options.evaluation_interval),
            pid=os.getpid(),
            children={"server": self.server.pid or 0, "app": self.app.pid or 0},
        )
        state.write(self.data_dir / STATE_FILE)
        return state

    def close(self) -> dict[str, bool]:
        """Stop everything; which children exited on SIGTERM in time."""
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        self.token_file.unlink(missing_ok=True)
        with self._lock:
            graceful = {
                "app": self.app.stop(self.options.stop_timeout),
                "server": self.server.stop(self.options.stop_timeout),
            }
        self.sink.stop()
        return graceful


def run_stack(options: StackOptions, *, rules_text: str, out: TextIO | None = None) -> int:
    """Run the whole demo until Ctrl-C, SIGTERM or ``options.duration``; exit code."""
    from vigie.demo.traffic import TrafficGenerator, remote_drills

    out = out if out is not None else sys.stdout
    stop = threading.Event()
    previous = _on_sigterm(stop)
    stack = _Stack(options, rules_text, out)
    started = time.monotonic()
    code = 0
    generator: TrafficGenerator | None = None
    traffic: threading.Thread | None = None
    try:
        try:
            state = stack.start()
        except KeyboardInterrupt:
            print("vigie demo: interrupted during start-up", file=out, flush=True)
            return 130
        _print_banner(out, stack, state, time.monotonic() - started)
        if options.traffic:
            generator = TrafficGenerator(
                state.app_url,
                rate=options.rate,
                progress=out,
                progress_interval=options.progress_interval,
                day_seconds=options.day_seconds,
                drills=remote_drills(state.app_url, state.drill_token),
                password=stack.password,
                seed=options.seed,
            )
            traffic = threading.Thread(
                target=generator.run, args=(stop,), name="vigie-demo-traffic", daemon=True
            )
            traffic.start()
        # --duration counts from when everything is up, not from the start of the start-up.
        ends_at = time.monotonic() + options.duration if options.duration else float("inf")
        try:
            while not stop.wait(0.2):
                if time.monotonic() >= ends_at:
                    break
                if not stack.server.running():
                    print("vigie demo: the server exited; its log:\n" + stack.server.tail(),
                          file=out, flush=True)  # fmt: skip
                    code = 1
                    break
        except KeyboardInterrupt:
            pass
    finally:
        stop.set()
        if traffic is not None and generator is not None:
            traffic.join(generator.timeout + 2)
        graceful = stack.close()
        _restore_sigterm(previous)
    forced = [name for name, clean in graceful.items() if not clean]
    how = f"; killed after {options.stop_timeout:g} s: {', '.join(forced)}" if forced else ""
    print(f"vigie demo: stopped after {time.monotonic() - started:.1f} s{how}",
          file=out, flush=True)  # fmt: skip
    if generator is not None:
        print(generator.stats.summary(), file=out, flush=True)
    return code


def _print_banner(out: TextIO, stack: _Stack, state: DemoState, took: float) -> None:
    scale = stack.options.time_scale
    lines = [
        f"vigie demo: up in {took:.1f} s (data in {stack.data_dir})",
        f"  UI       {state.server_url}/",
        f"  alerts   {state.server_url}/api/v1/alerts",
        f"  app      {state.app_url} (metrics {state.app_url}/metrics, health "
        f"{state.app_url}/health)",
        f"  webhook  {stack.sink.webhook_url} (notifications printed below)",
        "  login    user demo, password "
        + ("from VIGIE_DEMO_PASSWORD" if VIGIE_DEMO_PASSWORD.read() else stack.password),
        f"  drills   vigie drill NAME --data-dir {stack.data_dir}  "
        "(latency errors llm-errors cost drift down auth schema)",
        f"  logs     {stack.data_dir / 'logs'}",
        f"rules: the AI rule pack, time compressed {scale:g}x (5m windows are {300 / scale:g} s)",
    ]
    if stack.options.traffic:
        lines.append(f"traffic: up to {stack.options.rate:g} requests/s")
    until = f"for {stack.options.duration:g} s, or " if stack.options.duration else ""
    lines.append(f"running {until}until Ctrl-C")
    print("\n".join(lines), file=out, flush=True)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)  # O_CREAT keeps the mode of an existing file
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _wait_ready(child: ChildProcess, url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        if not child.running():
            raise VigieError(f"the demo's {child.name} exited during start-up; its log "
                             f"({child.log}):\n{child.tail()}")  # fmt: skip
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise VigieError(f"the demo's {child.name} did not answer {url} in time; its log:\n"
                     f"{child.tail()}")  # fmt: skip


def _check_free(host: str, port: int, flag: str) -> None:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigurationError(
                f"cannot listen on {host}:{port}: {error.strerror or error}; "
                f"choose another port with {flag}",
                field=flag,
            ) from None


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0}
    for unit in ("ms", "s", "m"):
        if duration.endswith(unit) and duration[: -len(unit)].replace(".", "").isdigit():
            return float(duration[: -len(unit)]) * units[unit]
    raise ConfigurationError(
        f"expected a duration such as 2s or 500ms, got {duration!r}", field="--interval"
    )


def _display(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _on_sigterm(stop: threading.Event) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda number, frame: stop.set())


def _restore_sigterm(previous: Any) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)
