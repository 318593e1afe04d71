"""One target's scrape loop, with Prometheus's semantics.

Every interval (at a fixed per-target offset, so targets of a job do not all fire together) the loop
fetches the target, parses the exposition and stores the samples at the scrape's start time, then
the report series Prometheus writes: ``up``, ``scrape_duration_seconds``,
``scrape_samples_scraped``, ``scrape_samples_post_metric_relabeling`` and ``scrape_series_added``.
A series present in the previous scrape but not in this one gets a staleness marker; when the
target fails (unreachable, HTTP error, malformed exposition, a limit exceeded) nothing of that
scrape is stored, every series of the previous scrape gets a staleness marker, and ``up`` is 0.
The error, with the line of a parse error, is kept for the targets API. OpenMetrics exemplars go
to the store's exemplar ring with the same commit, when the store keeps exemplars.

Example::

    loop = ScrapeLoop(target, storage, client, ServerMetrics())
    await loop.scrape_once()
    loop.health, loop.last_error
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path

import httpx

from vigie.exceptions import (
    DuplicateSampleError,
    ExpositionError,
    OutOfOrderSampleError,
    ScrapeError,
    StoreError,
)
from vigie.server.exposition import ACCEPT_HEADER, ExpositionParser, MetricMetadata
from vigie.server.metrics import ServerMetrics
from vigie.server.relabel import relabel
from vigie.server.targets import Target
from vigie.store.exemplars import ExemplarAppender, exemplar_from
from vigie.store.interface import STALE_NAN, Appender, SeriesRef, Storage

__all__ = ["ScrapeLoop", "merge_labels", "rejected_count"]

logger = logging.getLogger("vigie.server")

_REPORT_NAMES = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)


def rejected_count(error: StoreError) -> int:
    """How many samples a commit refused (the store says ``N of M samples rejected``)."""
    match = re.match(r"(\d+) of \d+ samples rejected", str(error))
    return int(match.group(1)) if match else 1


def merge_labels(
    scraped: dict[str, str], target: tuple[tuple[str, str], ...], honor_labels: bool
) -> dict[str, str]:
    """Target labels onto scraped ones, as Prometheus: on a clash the scraped label is renamed
    ``exported_<name>`` unless ``honor_labels``, in which case the scraped value wins."""
    merged = dict(scraped)
    for name, value in target:
        existing = merged.get(name)
        if existing is None or existing == "":
            merged[name] = value
        elif honor_labels:
            continue
        else:
            exported = "exported_" + name
            while exported in merged:
                exported = "exported_" + exported
            merged[exported] = existing
            merged[name] = value
    return {name: value for name, value in merged.items() if value != ""}


class ScrapeLoop:
    """Scrapes one target until stopped; its public attributes are what the targets API shows."""

    def __init__(
        self,
        target: Target,
        storage: Storage,
        client: httpx.AsyncClient,
        metrics: ServerMetrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.target = target
        self.storage = storage
        self.client = client
        self.metrics = metrics
        self.clock = clock
        self.parser = ExpositionParser(source=target.url, transform=self._target_labels)
        self.health = "unknown"
        self.last_error = ""
        self.last_scrape: datetime | None = None
        self.last_duration = 0.0
        self.last_samples = 0
        self.metadata: dict[str, MetricMetadata] = {}
        self._seen: dict[str, dict[str, str]] = {}  # series of the last successful scrape
        self._previous: dict[str, dict[str, str]] = {}  # series to mark stale if they vanish
        #: The store's reference of each scraped series, by the parser's series key.
        self._refs: dict[str, SeriesRef] = {}
        #: The last plainly stored scrape's series keys, in order, and their refs.
        self._layout: tuple[list[str], list[SeriesRef]] | None = None
        self._scraped = 0
        self._kept = 0
        self._task: asyncio.Task[None] | None = None
        self._storing: asyncio.Future[int] | None = None
        self._stopping = False
        #: Where the parsing and storing run (None: the loop's default executor). The scrape
        #: manager gives its loops a pool of their own, so that slow queries, which share the
        #: default pool, never delay a scrape's commit.
        self.executor: Executor | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def inherit(self, previous: ScrapeLoop) -> None:
        """Continue ``previous`` (same target, new settings): keep its staleness tracking."""
        self._previous = previous._previous
        self._seen = previous._seen
        self.health = previous.health
        self.last_error = previous.last_error
        self.last_scrape = previous.last_scrape
        self.last_duration = previous.last_duration

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"scrape {self.target.url}")

    def offset_seconds(self) -> float:
        """Where in the interval this target is scraped: fixed per target, spread across targets."""
        interval = self.target.scrape.scrape_interval_ms
        digest = zlib.crc32(repr(self.target.identity).encode())
        return (digest % interval) / 1000

    async def _run(self) -> None:
        # The phase in the interval comes from the wall clock (so targets spread the same way
        # after a restart); the ticking itself uses the monotonic clock, as Prometheus's ticker
        # does, so a wall-clock jump neither stops scraping nor causes a burst.
        interval = self.target.scrape.scrape_interval_ms / 1000
        wall = self.clock()
        first = wall - (wall % interval) + self.offset_seconds()
        if first < wall:
            first += interval
        next_at = time.monotonic() + (first - wall)
        while not self._stopping:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if self._stopping:
                break
            try:
                await self.scrape_once()
            except Exception:  # a bug must not kill the loop: log it and keep scraping
                logger.exception("scrape of %s failed unexpectedly", self.target.url)
            next_at += interval
            now = time.monotonic()
            if next_at < now:  # fell behind: skip missed slots rather than bursting
                next_at += interval * ((now - next_at) // interval + 1)

    async def stop(self, *, stale: bool) -> None:
        """Stop scraping; with ``stale`` (target removed), end every series with a marker."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._storing is not None and not self._storing.done():
            with contextlib.suppress(Exception):
                await self._storing
        if stale:
            await asyncio.to_thread(self._mark_all_stale)

    # -- one scrape -----------------------------------------------------------------------------

    async def scrape_once(self) -> None:
        """Fetch, parse and store one scrape, then the report series."""
        start = self.clock()
        timestamp = int(start * 1000)
        scrape = self.target.scrape
        body = b""
        content_type = None
        error: str | None = None
        timeout = scrape.scrape_timeout_ms / 1000
        try:
            # httpx's timeout is per socket operation; the scrape timeout bounds the whole fetch.
            async with asyncio.timeout(timeout):
                response = await self.client.get(
                    self.target.url, headers=self._headers(), timeout=timeout
                )
            if response.status_code != 200:
                error = (
                    f"server returned HTTP status {response.status_code} {response.reason_phrase}"
                )
            else:
                body = response.content
                content_type = response.headers.get("content-type")
        except (httpx.TimeoutException, TimeoutError):
            error = f'Get "{self.target.url}": context deadline exceeded'
        except (httpx.HTTPError, OSError, ScrapeError) as exc:
            error = f'Get "{self.target.url}": {exc}'  # worded as Prometheus's Go client
        # Shielded: a stop() during the store waits for it instead of racing the markers.
        self._storing = asyncio.get_running_loop().run_in_executor(
            self.executor, self._store, body, content_type, timestamp, start, error
        )
        result = await asyncio.shield(self._storing)
        self.metrics.scrapes.labels(
            scrape.job_name, "failure" if self.last_error else "success"
        ).inc()
        self.metrics.scrape_duration.labels(scrape.job_name).observe(self.clock() - start)
        self.metrics.scrape_samples.labels(scrape.job_name).inc(result)

    def _headers(self) -> dict[str, str]:
        scrape = self.target.scrape
        headers = {
            "Accept": ACCEPT_HEADER,
            "User-Agent": "vigie/scrape",
            "X-Prometheus-Scrape-Timeout-Seconds": f"{scrape.scrape_timeout_ms / 1000:g}",
        }
        auth = scrape.authorization
        if auth is not None:
            credentials = auth.credentials
            if auth.credentials_file is not None:
                try:
                    credentials = Path(auth.credentials_file).read_text().strip()
                except OSError as error:
                    raise ScrapeError(f"cannot read credentials file: {error.strerror}") from None
            if auth.username is not None:  # basic_auth
                pair = f"{auth.username}:{credentials or ''}".encode()
                credentials = base64.b64encode(pair).decode()
            headers["Authorization"] = f"{auth.type} {credentials}"
        return headers

    def _store(
        self,
        body: bytes,
        content_type: str | None,
        timestamp: int,
        start: float,
        error: str | None,
    ) -> int:
        """Store the scrape (or only its failure); returns how many samples were stored."""
        counts = (0, 0, 0)
        self._scraped = self._kept = 0
        appender = self.storage.appender()
        if error is None:
            try:
                counts = self._append_samples(appender, body, content_type, timestamp)
            except (ExpositionError, ScrapeError, StoreError) as exc:
                appender.rollback()
                appender = self.storage.appender()
                error = str(exc)
                counts = (self._scraped, self._kept, 0)
        stored = counts[1] if error is None else 0
        if error is not None:
            stored += self._append_stale(appender, self._previous, timestamp)
            self._previous = {}
            self._layout = None
        duration = self.clock() - start
        report = (1.0 if error is None else 0.0, duration, counts[0], counts[1], counts[2])
        for name, value in zip(_REPORT_NAMES, report, strict=True):
            appender.append(self._report_labels(name), timestamp, float(value))
        try:
            appender.commit()
        except (DuplicateSampleError, OutOfOrderSampleError) as exc:
            # The store kept the valid samples and refused these, as Prometheus drops them.
            dropped = rejected_count(exc)
            reason = "duplicate" if isinstance(exc, DuplicateSampleError) else "out_of_order"
            self.metrics.scrape_samples_dropped.labels(self.target.job, reason).inc(dropped)
            stored -= dropped
        except StoreError as exc:
            error = error or f"storing the scrape failed: {exc}"
            stored = 0
        self.health = "up" if error is None else "down"
        self.last_error = error or ""
        self.last_scrape = datetime.fromtimestamp(start, tz=UTC)
        self.last_duration = duration
        self.last_samples = counts[0]
        return stored + len(_REPORT_NAMES)

    def _report_labels(self, name: str) -> dict[str, str]:
        labels = dict(self.target.labels)
        labels["__name__"] = name
        return labels

    def _append_samples(
        self, appender: Appender, body: bytes, content_type: str | None, timestamp: int
    ) -> tuple[int, int, int]:
        scrape = self.target.scrape
        # The parser applies _target_labels once per new series (limits included) and caches it.
        result = self.parser.parse(body, content_type)
        keys = result.keys
        scraped = self._scraped = self._kept = len(keys)
        relabeled = bool(scrape.metric_relabel_configs)
        if relabeled:  # series dropped by metric_relabel_configs have empty label sets
            self._kept = sum(1 for labels in result.labels_of if labels)
        kept = self._kept
        if scrape.sample_limit and kept > scrape.sample_limit:
            raise ScrapeError("sample limit exceeded")
        duplicates = out_of_order = 0
        append = appender.append
        plain = not relabeled and not (result.has_timestamps and scrape.honor_timestamps)
        layout = self._layout
        self._layout = None  # until this scrape is stored the plain way
        if plain and layout is not None and keys == layout[0]:
            # The steady state: the same series in the same order as the previous scrape (one
            # C-level list comparison), so its store refs serve again, nothing was added and
            # nothing vanished: no per-series lookup at all.
            series = current = self._seen
            added = 0
            appender.append_refs(layout[1], timestamp, result.values)
            self._layout = layout
        elif plain and len(result.series) == len(keys):
            # Each series once, all stored at the scrape's time, through the store's series
            # refs kept across scrapes (no label-set lookup per sample).
            series = current = result.series
            added = len(series.keys() - self._seen.keys())
            refs = self._refs
            if len(refs) > 2 * len(series):
                refs = self._refs = {key: refs[key] for key in series.keys() & refs.keys()}
            batch = list(map(refs.get, keys))
            if None in batch:  # series new to this loop: resolve them once
                ref_of = appender.ref
                for index, (key, labels) in enumerate(zip(keys, result.labels_of, strict=True)):
                    if batch[index] is None:
                        batch[index] = refs[key] = ref_of(labels)
            appender.append_refs(batch, timestamp, result.values)
            self._layout = (keys, batch)
        else:
            series = result.series
            added = len(series.keys() - self._seen.keys())
            current = {}
            appended: set[str] = set()
            for key, labels, value, sample_time in result.samples:
                if not labels:
                    continue
                if key in appended:
                    duplicates += 1
                    continue
                appended.add(key)
                if sample_time is None or not scrape.honor_timestamps:
                    current[key] = labels  # only these get staleness markers, as Prometheus
                    sample_time = timestamp
                try:
                    append(labels, sample_time, value)
                except DuplicateSampleError:
                    duplicates += 1
                except OutOfOrderSampleError:
                    out_of_order += 1
        if result.exemplars and isinstance(appender, ExemplarAppender):
            # Stored with this scrape's commit; exemplars without a timestamp get the scrape's.
            for key, parsed in result.exemplars:
                owner = series.get(key)
                if owner:  # not dropped by metric_relabel_configs
                    appender.append_exemplar(
                        owner,
                        exemplar_from(parsed.labels, parsed.value, parsed.timestamp_ms, timestamp),
                    )
        previous = self._previous
        if previous is not current:
            gone = previous.keys() - current.keys()
            self._append_stale(appender, {key: previous[key] for key in gone}, timestamp)
        self._previous = current
        self._seen = series
        self.metadata = result.metadata
        job = scrape.job_name
        if duplicates:
            self.metrics.scrape_samples_dropped.labels(job, "duplicate").inc(duplicates)
        if out_of_order:
            self.metrics.scrape_samples_dropped.labels(job, "out_of_order").inc(out_of_order)
        return scraped, kept, added

    def _target_labels(self, scraped: dict[str, str]) -> dict[str, str]:
        """Stored labels of a new series, with the job's label limits checked (as Prometheus)."""
        scrape = self.target.scrape
        labels = merge_labels(scraped, self.target.labels, scrape.honor_labels)
        if scrape.metric_relabel_configs:
            relabeled = relabel(labels, scrape.metric_relabel_configs)
            if not relabeled:
                return {}  # dropped: the parser caches this, the loop skips it
            labels = relabeled
        name = labels.get("__name__", "")
        if scrape.label_limit and len(labels) > scrape.label_limit:
            raise ScrapeError(
                f"label_limit exceeded (metric: {name[:50]}, number of labels: {len(labels)}, "
                f"limit: {scrape.label_limit})"
            )
        for label, value in labels.items():
            if scrape.label_name_length_limit and len(label) > scrape.label_name_length_limit:
                raise ScrapeError(
                    f"label_name_length_limit exceeded (metric: {name[:50]}, label name: "
                    f"{label[:50]}, length: {len(label)}, limit: {scrape.label_name_length_limit})"
                )
            if scrape.label_value_length_limit and len(value) > scrape.label_value_length_limit:
                raise ScrapeError(
                    f"label_value_length_limit exceeded (metric: {name[:50]}, label name: "
                    f"{label[:50]}, value: {value[:50]!r}, length: {len(value)}, "
                    f"limit: {scrape.label_value_length_limit})"
                )
        # Interned: the parser's cache and the store's index then share one copy of each name
        # and value (a route or status code repeats across thousands of series).
        return {sys.intern(label): sys.intern(value) for label, value in labels.items()}

    @staticmethod
    def _append_stale(appender: Appender, series: dict[str, dict[str, str]], timestamp: int) -> int:
        for labels in series.values():
            try:
                appender.append(labels, timestamp, STALE_NAN)
            except StoreError:
                continue
        return len(series)

    def _mark_all_stale(self) -> None:
        """The target is gone: end its series and its report series now."""
        timestamp = int(self.clock() * 1000)
        appender = self.storage.appender()
        series = dict(self._previous)
        if self.last_scrape is not None:
            for name in _REPORT_NAMES:
                series[name] = self._report_labels(name)
        self._append_stale(appender, series, timestamp)
        try:
            appender.commit()
        except StoreError as error:
            logger.error("cannot write staleness markers for %s: %s", self.target.url, error)
        self._previous = {}
        self._layout = None
