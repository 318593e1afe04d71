"""All scrape loops of the server, reconciled with the configuration on start and on every reload.

A reload keeps the loop of every target whose job settings and labels did not change (so its
staleness tracking and schedule survive), stops removed targets with staleness markers, and starts
new ones. file_sd files are polled (a cheap ``stat``) and re-read when they change or when their
refresh interval has passed.

Example::

    manager = ScrapeManager(storage, ServerMetrics())
    await manager.apply(config)
    [loop.health for loop in manager.loops()]
    await manager.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from vigie.server.config_model import Config, ScrapeConfig
from vigie.server.metrics import ServerMetrics
from vigie.server.scrape import ScrapeLoop
from vigie.server.targets import DroppedTarget, FileDiscovery, Target, static_targets
from vigie.store.interface import Storage

__all__ = ["ScrapeManager"]

logger = logging.getLogger("vigie.server")

_POLL_SECONDS = 5.0
#: Threads parsing and committing scrapes (the work holds the GIL: more would not go faster,
#: but a few let one commit proceed while another waits for the store's lock or an fsync).
_STORE_THREADS = 4


class ScrapeManager:
    """Owns the HTTP client, the discovery of targets and one :class:`ScrapeLoop` per target."""

    def __init__(self, storage: Storage, metrics: ServerMetrics) -> None:
        self.storage = storage
        self.metrics = metrics
        self.client = httpx.AsyncClient(follow_redirects=True)
        # The loops parse and commit in threads of their own: queries run in the event loop's
        # default pool, and a burst of slow dashboard queries must not delay the commits.
        self._executor = ThreadPoolExecutor(_STORE_THREADS, thread_name_prefix="vigie-scrape")
        #: Clients that trust one pinned certificate (the TLS self-scrape), by certificate file.
        self._pinned: dict[str, httpx.AsyncClient] = {}
        self._jobs: dict[str, ScrapeConfig] = {}
        self._discovery: dict[str, list[FileDiscovery]] = {}
        self._loops: dict[tuple[str, str, tuple[tuple[str, str], ...]], ScrapeLoop] = {}
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._last_full_read: dict[str, float] = {}
        #: Targets that relabel_configs dropped, for the targets API.
        self.dropped: list[DroppedTarget] = []

    def loops(self) -> list[ScrapeLoop]:
        """Active scrape loops, by job then URL."""
        return sorted(self._loops.values(), key=lambda loop: (loop.target.job, loop.target.url))

    async def apply(self, config: Config, extra_jobs: tuple[ScrapeConfig, ...] = ()) -> None:
        """Scrape exactly the targets of ``config`` (plus ``extra_jobs``) from now on."""
        jobs = {job.job_name: job for job in (*config.scrape_configs, *extra_jobs)}
        async with self._lock:
            old_discovery = self._discovery
            self._jobs = jobs
            self._discovery = {}
            for name, job in jobs.items():
                previous = old_discovery.get(name, [])
                kept = []
                for sd in job.file_sd_configs:
                    match = next((d for d in previous if d.config == sd), None)
                    kept.append(match or FileDiscovery(sd))
                self._discovery[name] = kept
            for discoveries in self._discovery.values():
                for discovery in discoveries:
                    await asyncio.to_thread(discovery.refresh, force=True)
            await self._reconcile()
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(), name="file_sd poller")

    def discovery_errors(self) -> dict[str, str]:
        """Target files that could not be read, with the reason."""
        return {
            path: error
            for discoveries in self._discovery.values()
            for discovery in discoveries
            for path, error in discovery.errors.items()
        }

    async def _reconcile(self) -> None:
        wanted: dict[tuple[str, str, tuple[tuple[str, str], ...]], Target] = {}
        dropped: list[DroppedTarget] = []
        for name, job in self._jobs.items():
            targets = static_targets(job)
            for discovery in self._discovery.get(name, []):
                targets += discovery.targets(job)
            for target in targets:
                if isinstance(target, DroppedTarget):
                    dropped.append(target)
                else:
                    wanted.setdefault(target.identity, target)
        self.dropped = dropped
        stopping = []
        replaced: dict[tuple[str, str, tuple[tuple[str, str], ...]], ScrapeLoop] = {}
        for identity, loop in list(self._loops.items()):
            wanted_target = wanted.get(identity)
            if wanted_target is None or wanted_target.scrape != loop.target.scrape:
                del self._loops[identity]
                # Removed targets end their series; changed ones continue them in the new loop.
                stopping.append(loop.stop(stale=wanted_target is None))
                if wanted_target is not None:
                    replaced[identity] = loop
        await asyncio.gather(*stopping)
        for identity, target in wanted.items():
            if identity not in self._loops:
                loop = ScrapeLoop(target, self.storage, self._client(target), self.metrics)
                loop.executor = self._executor
                if identity in replaced:
                    loop.inherit(replaced[identity])
                self._loops[identity] = loop
                loop.start()
        self._update_target_gauge()

    def _client(self, target: Target) -> httpx.AsyncClient:
        pinned = target.scrape.tls_pinned_cert
        if not pinned:
            return self.client
        if pinned not in self._pinned:
            from vigie.server.security import self_scrape_tls_context

            context = self_scrape_tls_context(pinned)
            self._pinned[pinned] = httpx.AsyncClient(follow_redirects=True, verify=context)
        return self._pinned[pinned]

    def _update_target_gauge(self) -> None:
        self.metrics.targets.clear()
        for loop in self._loops.values():
            self.metrics.targets.labels(loop.target.job, loop.health).inc()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(_POLL_SECONDS if not self._short_refresh() else 0.5)
            try:
                await self._poll_once()
            except Exception:  # discovery must never stop: log and retry next round
                logger.exception("file_sd refresh failed")
            self._update_target_gauge()

    def _short_refresh(self) -> bool:
        return any(
            d.config.refresh_interval_ms < _POLL_SECONDS * 1000
            for discoveries in self._discovery.values()
            for d in discoveries
        )

    async def _poll_once(self) -> None:
        async with self._lock:
            changed = False
            now = time.monotonic()
            for discoveries in self._discovery.values():
                for discovery in discoveries:
                    key = repr(discovery.config)
                    force = now - self._last_full_read.get(key, 0.0) >= (
                        discovery.config.refresh_interval_ms / 1000
                    )
                    if force:
                        self._last_full_read[key] = now
                    changed |= await asyncio.to_thread(discovery.refresh, force=force)
            if changed:
                await self._reconcile()

    async def stop(self) -> None:
        """Stop every loop (no staleness markers: the server is shutting down) and the client."""
        # Taking the lock first lets a reconcile in progress finish its staleness markers.
        async with self._lock:
            if self._poller is not None:
                self._poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._poller
                self._poller = None
            await asyncio.gather(*(loop.stop(stale=False) for loop in self._loops.values()))
            self._loops.clear()
        await self.client.aclose()
        for client in self._pinned.values():
            await client.aclose()
        self._executor.shutdown(wait=False)
