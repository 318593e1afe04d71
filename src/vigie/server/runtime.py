"""The running server: store, scrape loops, HTTP app, signals, in one process.

Start-up order matters for ``/-/ready``: the HTTP listener comes up first (so ``/-/healthy`` answers
and ``/-/ready`` says 503 while the write-ahead log is replayed), then the store is opened in a
worker thread, then scraping starts and the server becomes ready. SIGHUP reloads the
configuration; SIGTERM and SIGINT stop accepting requests, stop the scrape loops and close the store
(flushing everything) before the process exits 0.

Example::

    server = Server(ServerOptions(config_path=Path("vigie.yml"), data_dir=Path("vigie-data")))
    exit_code = server.run()   # blocks until SIGTERM
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import platform
import signal
import sys
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from vigie.exceptions import VigieError
from vigie.notify.service import NotificationService
from vigie.quality.service import QualityService
from vigie.server.alerting import (
    open_notifications,
    open_quality,
    routing_config,
    run_quality_checks,
)
from vigie.server.config import load_config
from vigie.server.config_model import Config, ScrapeConfig, StaticConfig, TelemetrySettings
from vigie.server.exposition import MetricMetadata
from vigie.server.metrics import ServerMetrics
from vigie.server.rule_evaluation import RuleEvaluation, check_rule_files
from vigie.server.scrape_manager import ScrapeManager
from vigie.server.security import self_scrape_authorization, tls_options
from vigie.store.exemplars import ExemplarStorage
from vigie.store.interface import Storage
from vigie.store.tsdb import DiskStorage
from vigie.telemetry.service import TelemetryService

__all__ = ["DEFAULT_PORT", "Server", "ServerOptions", "open_storage", "tune_malloc"]

logger = logging.getLogger("vigie.server")

#: Threads of the default pool beyond the queries' (see Server._serve).
_SPARE_THREADS = 8
#: The interpreter's thread switch interval in the server process (Python's default: 5 ms).
_SWITCH_INTERVAL_S = 0.001
#: glibc mallopt parameters (malloc.h) and the fixed mmap threshold (see tune_malloc).
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8
_MMAP_THRESHOLD_BYTES = 256 * 1024

#: 9800: free of Prometheus (9090), Alertmanager (9093), Grafana (3000) and node exporter (9100),
#: and not taken by a common exporter in Prometheus's default port allocation list.
DEFAULT_PORT = 9800


@dataclass(frozen=True)
class ServerOptions:
    """What ``vigie server`` was started with."""

    data_dir: Path
    config_path: Path | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT


def open_storage(data_dir: Path, config: Config) -> Storage:
    """The on-disk store in ``data_dir``, its WAL replayed (this can take a while)."""
    settings = config.vigie.storage
    data_dir.mkdir(parents=True, exist_ok=True)
    return DiskStorage(
        data_dir,
        retention_ms=settings.retention_time_ms or None,
        retention_bytes=settings.retention_size_bytes or None,
        max_exemplars=config.exemplars.max_exemplars,
    )


def open_telemetry(data_dir: Path, settings: TelemetrySettings) -> TelemetryService:
    """The OTLP traces and logs service, its databases in ``data_dir/telemetry``."""
    return TelemetryService(
        data_dir / "telemetry",
        retention_age=settings.retention_time_ms / 1000,
        retention_bytes=settings.retention_size_bytes,
        queue_size=settings.queue_size,
        max_body_bytes=settings.max_body_size_bytes,
        tail_paths=settings.tail_paths,
        tail_service=settings.tail_service,
        tail_interval=settings.tail_interval_ms / 1000,
    )


def tune_malloc() -> bool:
    """Make glibc's malloc give freed query memory back to the system; False elsewhere.

    Why: a query over every series of a metric allocates numpy arrays of tens of MiB. glibc
    raises its mmap threshold to the size of each freed block (up to 32 MiB) and keeps one heap
    per thread: the next arrays then come from those heaps, which fragment and never shrink, and
    the resident size ratchets up (load test peak: 1.47 GiB before, 1.25 GiB with this).
    A fixed threshold puts large arrays in their own mappings, returned when freed, and two
    arenas suffice for threads that take turns on the GIL anyway. Same as ``MALLOC_ARENA_MAX=2
    MALLOC_MMAP_THRESHOLD_=262144`` in the environment.
    """
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, 2) and mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES))


def close_storage(storage: Storage) -> None:
    close = getattr(storage, "close", None)
    if callable(close):
        close()


class Server:
    """One vigie server process's state; the HTTP app reads it."""

    def __init__(self, options: ServerOptions, *, storage: Storage | None = None) -> None:
        self.options = options
        self.metrics = ServerMetrics()
        self.metrics.components.server = self
        self.config = self._read_config()
        self.storage: Storage | None = storage
        self.scrapes: ScrapeManager | None = None
        self.rules: RuleEvaluation | None = None
        self.notifications: NotificationService | None = None
        self.quality: QualityService | None = None
        self._quality_task: asyncio.Task[None] | None = None
        self.telemetry: TelemetryService | None = None
        self._span_metrics_task: asyncio.Task[None] | None = None
        self.ready = False
        self.started_at = time.time()
        self.last_reload_error = ""
        self.remote_metadata: dict[str, MetricMetadata] = {}
        self._startup: asyncio.Task[None] | None = None
        self._uvicorn: _Uvicorn | None = None
        self.metrics.reload_successful.set(1)
        self.metrics.reload_timestamp.set(self.started_at)

    # -- configuration --------------------------------------------------------------------------

    def _read_config(self) -> Config:
        if self.options.config_path is None:
            return Config()
        config = load_config(self.options.config_path)
        check_rule_files(config)  # a bad rule file fails the (re)load, as in Prometheus
        return config

    def external_url(self) -> str:
        """The URL the server is reached at (alerts' generatorURL points there)."""
        if self.config.vigie.alerting.external_url:
            return self.config.vigie.alerting.external_url
        host = self.options.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.options.port}"

    def self_scrape_job(self, config: Config) -> tuple[ScrapeConfig, ...]:
        """The job scraping this server's own ``/metrics``, unless turned off or taken."""
        settings = config.vigie.self_monitoring
        if not settings.enabled or any(
            job.job_name == settings.job_name for job in config.scrape_configs
        ):
            return ()
        interval = settings.scrape_interval_ms or config.global_config.scrape_interval_ms
        timeout = min(config.global_config.scrape_timeout_ms, interval)
        host = self.options.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        address = f"[{host}]:{self.options.port}" if ":" in host else f"{host}:{self.options.port}"
        tls = config.vigie.security  # under TLS: https, trusting exactly the server's certificate
        return (
            ScrapeConfig(
                settings.job_name,
                interval,
                timeout,
                scheme="https" if tls.tls else "http",
                static_configs=(StaticConfig((address,)),),
                authorization=self_scrape_authorization(self.options.data_dir),
                tls_pinned_cert=tls.tls_cert_file,
            ),
        )

    async def reload(self) -> None:
        """Re-read the configuration; on error keep the running one and raise the error."""
        try:
            config = await asyncio.to_thread(self._read_config)
            if self.rules is not None:
                await asyncio.to_thread(self.rules.apply, config)
        except VigieError as error:
            self.metrics.reload_successful.set(0)
            self.last_reload_error = str(error)
            logger.error("reloading the configuration failed, keeping the old one: %s", error)
            raise
        self.config = config
        if self.notifications is not None:
            self.notifications.reload(routing_config(config))
            dispatcher = self.notifications.dispatcher
            dispatcher.external_url = dispatcher.ui_url = self.external_url()
        self._apply_collectors(config)
        exemplars = getattr(self.storage, "exemplars", None)
        if isinstance(exemplars, ExemplarStorage):  # storage.exemplars.max_exemplars
            await asyncio.to_thread(exemplars.resize, config.exemplars.max_exemplars)
        if self.scrapes is not None:
            await self.scrapes.apply(config, self.self_scrape_job(config))
        self.metrics.reload_successful.set(1)
        self.metrics.reload_timestamp.set(time.time())
        self.last_reload_error = ""
        logger.info("configuration reloaded from %s", self.options.config_path)

    def _apply_collectors(self, config: Config) -> None:
        from vigie.server.collectors import build_collectors

        self.metrics.replace_collectors(build_collectors(config.vigie.collectors))

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store (replaying the WAL), start scraping, become ready."""
        if self.storage is None:
            self.storage = await asyncio.to_thread(open_storage, self.options.data_dir, self.config)
        self.metrics.store.storage = self.storage
        self._apply_collectors(self.config)
        self.scrapes = ScrapeManager(self.storage, self.metrics)
        await self.scrapes.apply(self.config, self.self_scrape_job(self.config))
        settings = self.config.vigie.telemetry
        if settings.enabled:
            self.telemetry = await asyncio.to_thread(
                open_telemetry, self.options.data_dir, settings
            )
            self._span_metrics_task = asyncio.create_task(self._write_span_metrics())
        data_dir = self.options.data_dir
        self.notifications = await asyncio.to_thread(
            open_notifications, data_dir, self.config, self.external_url()
        )
        self.notifications.start()
        if self.config.vigie.quality.enabled:
            self.quality = await asyncio.to_thread(open_quality, data_dir, self.storage)
            interval = lambda: self.config.vigie.quality.check_interval_ms / 1000  # noqa: E731
            self._quality_task = asyncio.create_task(run_quality_checks(self.quality, interval))
        rules = RuleEvaluation(
            self.storage, self.external_url(), data_dir=data_dir,
            receive=self.notifications.receive,
        )  # fmt: skip
        await asyncio.to_thread(rules.apply, self.config)
        rules.start()
        self.rules = rules
        self.ready = True
        self.metrics.ready.set(1)
        logger.info("vigie server is ready")

    def start_in_background(self) -> None:
        """Start without blocking the HTTP listener (called from the app's lifespan)."""
        self._startup = asyncio.create_task(self._start_logged(), name="vigie startup")

    async def _start_logged(self) -> None:
        try:
            await self.start()
        except Exception:
            logger.exception("vigie server failed to start; stopping")
            if self._uvicorn is not None:
                self._uvicorn.should_exit = True
            raise

    async def stop(self) -> None:
        """Stop scraping and close the store, flushing everything to disk."""
        self.ready = False
        self.metrics.ready.set(0)
        if self._startup is not None and not self._startup.done():
            self._startup.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._startup
        if self.rules is not None:
            await asyncio.to_thread(self.rules.stop)
            self.rules = None
        if self._quality_task is not None:
            self._quality_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._quality_task
            self._quality_task = None
        if self.quality is not None:
            await asyncio.to_thread(self.quality.save)
            self.quality = None
        if self.notifications is not None:
            await asyncio.to_thread(self.notifications.stop)  # queued notifications stay on disk
            self.notifications = None
        if self._span_metrics_task is not None:
            self._span_metrics_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._span_metrics_task
            self._span_metrics_task = None
        if self.telemetry is not None:
            await asyncio.to_thread(self.telemetry.close)  # commits what is queued
            self.telemetry = None
        if self.scrapes is not None:
            await self.scrapes.stop()
            self.scrapes = None
        if self.storage is not None:
            self.metrics.store.storage = None
            await asyncio.to_thread(close_storage, self.storage)
            self.storage = None

    async def _write_span_metrics(self) -> None:
        """Store the ``traces_spanmetrics_*`` series every scrape interval, like a scrape."""
        while True:
            await asyncio.sleep(self.config.global_config.scrape_interval_ms / 1000)
            try:
                await asyncio.to_thread(self.store_span_metrics)
            except Exception:  # keep the loop alive; the next round retries
                logger.exception("storing span metrics failed")

    def store_span_metrics(self) -> int:
        """Append the current span metrics at the current time; returns how many samples."""
        if self.telemetry is None or self.storage is None:
            return 0
        samples = self.telemetry.span_metric_samples()
        if not samples:
            return 0
        now = int(time.time() * 1000)
        appender = self.storage.appender()
        for labels, value in samples:
            appender.append(labels, now, value)
        appender.commit()
        return len(samples)

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; returns the exit code."""
        from vigie.server.app import create_app

        tune_malloc()
        app = create_app(self)
        config = uvicorn.Config(
            app,
            host=self.options.host,
            port=self.options.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            **tls_options(self.config.vigie.security),  # type: ignore[arg-type]
        )
        server = _Uvicorn(config, self)
        self._uvicorn = server
        return asyncio.run(self._serve(server))

    async def _serve(self, server: _Uvicorn) -> int:
        # The default pool runs the API's queries and the short blocking calls of the other
        # endpoints (/metrics, OTLP ingest, remote write): sized so that the queries the query
        # gate lets through (vigie.query.max_concurrency) leave threads for the rest. Python's
        # default (CPU count + 4) let queued dashboard queries hold every thread, and /metrics
        # and OTLP requests timed out behind them.
        workers = self.config.vigie.query.max_concurrency + _SPARE_THREADS
        pool = ThreadPoolExecutor(workers, thread_name_prefix="vigie-worker")
        asyncio.get_running_loop().set_default_executor(pool)
        # Queries hold the GIL for seconds; the event loop (scrapes' HTTP, every request) waits
        # up to one switch interval for it at each wake-up. 1 ms instead of 5 keeps scrapes on
        # time while queries run, for a few more thread switches.
        sys.setswitchinterval(_SWITCH_INTERVAL_S)
        try:
            await server.serve()
        finally:
            await self.stop()
        if server.startup_failed:
            return 1
        if self._startup is not None and self._startup.done() and self._startup.exception():
            return 1
        return 0


class _Uvicorn(uvicorn.Server):
    """uvicorn with our signal handling: SIGHUP reloads, SIGTERM/SIGINT stop without re-raising
    the signal afterwards (uvicorn's default would kill the process before the store is closed)."""

    def __init__(self, config: uvicorn.Config, owner: Server) -> None:
        super().__init__(config)
        self.owner = owner
        self.startup_failed = False

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        loop = asyncio.get_running_loop()

        def stop(signum: int, frame: FrameType | None) -> None:
            logger.info("received signal %s, shutting down", signal.Signals(signum).name)
            self.should_exit = True

        def reload(signum: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._reload()))

        handled = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
        original = {sig: signal.signal(sig, handler) for sig, handler in handled.items()}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def _reload(self) -> None:
        with contextlib.suppress(VigieError):
            await self.owner.reload()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit and not self.started:
            self.startup_failed = True
