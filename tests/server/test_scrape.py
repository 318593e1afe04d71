"""Scraping real local HTTP targets with Prometheus semantics."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.exporter import OPENMETRICS, Exporter
from vigie.server.config import parse_config
from vigie.server.config_model import ScrapeConfig, StaticConfig
from vigie.server.metrics import ServerMetrics
from vigie.server.scrape import ScrapeLoop, merge_labels
from vigie.server.scrape_manager import ScrapeManager
from vigie.server.targets import Target
from vigie.server.targets import make_target as make_any_target
from vigie.store.interface import Matcher, is_stale
from vigie.store.memory import MemoryStorage


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    """A running exporter on a free port."""
    target = Exporter()
    yield target
    target.close()


def make_target(
    job: ScrapeConfig, address: str, labels: tuple[tuple[str, str], ...], source: str
) -> Target:
    target = make_any_target(job, address, labels, source)
    assert isinstance(target, Target)
    return target


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _loop(
    exporter: Exporter,
    storage: MemoryStorage,
    clock: Clock,
    client: httpx.AsyncClient,
    **options: object,
) -> ScrapeLoop:
    job = ScrapeConfig("app", 15_000, 10_000, **options)  # type: ignore[arg-type]
    target = make_target(job, exporter.address, (("team", "ai"),), "static")
    return ScrapeLoop(target, storage, client, ServerMetrics(), clock=clock)


def _values(
    storage: MemoryStorage, name: str
) -> dict[tuple[tuple[str, str], ...], list[tuple[int, float]]]:
    found = {}
    for series in storage.querier().select([Matcher("__name__", "=", name)], 0, 2**62):
        key = tuple(sorted((k, v) for k, v in series.labels.items() if k != "__name__"))
        found[key] = list(zip(series.timestamps.tolist(), series.values.tolist(), strict=False))
    return found


def _one(storage: MemoryStorage, name: str) -> list[tuple[int, float]]:
    values = _values(storage, name)
    assert len(values) == 1, values
    return next(iter(values.values()))


async def test_scrape_stores_samples_and_report_series(exporter: Exporter) -> None:
    """Samples get job/instance/target labels; up and scrape_* series are written."""
    exporter.body = (
        b'# TYPE requests_total counter\nrequests_total{route="/a"}'
        b' 3\nrequests_total{route="/b"} 4\ntemp 20.5\n'
    )
    storage = MemoryStorage()
    clock = Clock()
    async with httpx.AsyncClient() as client:
        loop = _loop(exporter, storage, clock, client)
        await loop.scrape_once()
    t = 1_700_000_000_000
    labels = (("instance", exporter.address), ("job", "app"), ("route", "/a"), ("team", "ai"))
    assert _values(storage, "requests_total")[labels] == [(t, 3.0)]
    assert _one(storage, "up") == [(t, 1.0)]
    assert _one(storage, "scrape_samples_scraped") == [(t, 3.0)]
    assert _one(storage, "scrape_samples_post_metric_relabeling") == [(t, 3.0)]
    assert _one(storage, "scrape_series_added") == [(t, 3.0)]
    assert _one(storage, "scrape_duration_seconds")[0][0] == t
    assert loop.health == "up"
    assert loop.last_error == ""
    assert loop.metadata["requests_total"].type == "counter"
    headers = exporter.requests[0]
    assert headers["Accept"].startswith("application/openmetrics-text;version=1.0.0")
    assert headers["X-Prometheus-Scrape-Timeout-Seconds"] == "10"


async def test_vanished_series_and_down_target_get_staleness_markers(exporter: Exporter) -> None:
    """A series missing from the next scrape, then every series"
    " of a down target, is marked stale."""
    storage = MemoryStorage()
    clock = Clock()
    async with httpx.AsyncClient() as client:
        loop = _loop(exporter, storage, clock, client)
        exporter.body = b"a 1\nb 2\n"
        await loop.scrape_once()
        clock.now += 15
        exporter.body = b"a 1\n"
        await loop.scrape_once()
        clock.now += 15
        exporter.status = 500
        await loop.scrape_once()
        clock.now += 15
        await loop.scrape_once()
    t0 = 1_700_000_000_000
    b = _one(storage, "b")
    assert b[0] == (t0, 2.0)
    assert is_stale(b[1][1])
    assert b[1][0] == t0 + 15_000
    assert len(b) == 2
    a = _one(storage, "a")
    assert [v for _, v in a[:2]] == [1.0, 1.0]
    assert is_stale(a[2][1])
    assert a[2][0] == t0 + 30_000
    assert len(a) == 3  # no second marker while the target stays down
    assert [v for _, v in _one(storage, "up")] == [1.0, 1.0, 0.0, 0.0]
    assert [v for _, v in _one(storage, "scrape_series_added")] == [2.0, 0.0, 0.0, 0.0]
    assert loop.health == "down"
    assert loop.last_error == "server returned HTTP status 500 Internal Server Error"


async def test_malformed_exposition_stores_nothing_and_reports_line(exporter: Exporter) -> None:
    """A parse error fails the scrape: no partial samples, the line is in the error."""
    storage = MemoryStorage()
    async with httpx.AsyncClient() as client:
        loop = _loop(exporter, storage, Clock(), client)
        exporter.body = b"good 1\nbad{x=} 2\nlater 3\n"
        await loop.scrape_once()
    assert _values(storage, "good") == {}
    assert _one(storage, "up")[0][1] == 0.0
    assert (
        loop.last_error
        == f"http://{exporter.address}/metrics:2: expected a quoted value for label 'x'"
    )


async def test_sample_limit_fails_the_scrape(exporter: Exporter) -> None:
    """More samples than sample_limit: nothing stored, up 0, Prometheus's message."""
    storage = MemoryStorage()
    exporter.body = b"a 1\nb 2\nc 3\n"
    async with httpx.AsyncClient() as client:
        loop = _loop(exporter, storage, Clock(), client, sample_limit=2)
        await loop.scrape_once()
    assert _values(storage, "a") == {}
    assert _one(storage, "up")[0][1] == 0.0
    assert _one(storage, "scrape_samples_scraped")[0][1] == 3.0
    assert loop.last_error == "sample limit exceeded"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"label_limit": 4}, "label_limit exceeded (metric: m, number of labels: 5, limit: 4)"),
        (
            {"label_name_length_limit": 8},
            "label_name_length_limit exceeded (metric: m, label name: __name__, length: 8",
        ),
        (
            {"label_value_length_limit": 5},
            "label_value_length_limit exceeded (metric: m, label name:"
            " x, value: 'longvalue', length: 9, limit: 5)",
        ),
    ],
)
async def test_label_limits_fail_the_scrape(
    exporter: Exporter, options: dict[str, int], message: str
) -> None:
    """Label limits count the stored labels (target labels included), as Prometheus."""
    if "label_name_length_limit" in options:
        options["label_name_length_limit"] = 7
        message = message.replace("limit: 8", "limit: 7")
    storage = MemoryStorage()
    exporter.body = b'm{x="longvalue"} 1\n'
    async with httpx.AsyncClient() as client:
        loop = _loop(exporter, storage, Clock(), client, **options)
        await loop.scrape_once()
    assert _values(storage, "m") == {}
    assert loop.last_error.startswith(message)


async def test_honor_labels_and_timestamps(exporter: Exporter) -> None:
    """Clashing labels become exported_* unless honor_labels; exposed timestamps are kept."""
    exporter.body = b'm{job="inner",instance="x"} 1 1600000000000\n'
    storage = MemoryStorage()
    async with httpx.AsyncClient() as client:
        await _loop(exporter, storage, Clock(), client).scrape_once()
        honored = MemoryStorage()
        await _loop(
            exporter, honored, Clock(), client, honor_labels=True, honor_timestamps=False
        ).scrape_once()
    ((labels, samples),) = _values(storage, "m").items()
    assert dict(labels)["exported_job"] == "inner"
    assert dict(labels)["job"] == "app"
    assert dict(labels)["exported_instance"] == "x"
    assert samples == [(1_600_000_000_000, 1.0)]
    ((labels, samples),) = _values(honored, "m").items()
    assert dict(labels)["job"] == "inner"
    assert "exported_job" not in dict(labels)
    assert samples == [(1_700_000_000_000, 1.0)]


async def test_openmetrics_target(exporter: Exporter) -> None:
    """An OpenMetrics response is parsed as OpenMetrics (seconds timestamps, # EOF)."""
    exporter.content_type = OPENMETRICS
    exporter.body = (
        b'# TYPE c counter\nc_total 2 1600000000.5 # {trace_id="t"} 1\nc_created 1.6e9\n# EOF\n'
    )
    storage = MemoryStorage()
    async with httpx.AsyncClient() as client:
        await _loop(exporter, storage, Clock(), client).scrape_once()
    assert _one(storage, "c_total") == [(1_600_000_000_500, 2.0)]
    assert _one(storage, "c_created") == [(1_700_000_000_000, 1.6e9)]


def test_merge_labels_repeats_exported_prefix() -> None:
    """exported_ is repeated while the name is taken, as Prometheus does."""
    merged = merge_labels({"job": "a", "exported_job": "b"}, (("job", "j"),), False)
    assert merged == {"job": "j", "exported_job": "b", "exported_exported_job": "a"}


async def test_manager_scrapes_file_sd_targets_and_marks_removed_ones_stale(
    exporter: Exporter, tmp_path: Path
) -> None:
    """Targets appear from a file_sd file; removing them writes staleness markers."""
    exporter.body = b"x 1\n"
    targets = tmp_path / "targets.json"
    targets.write_text(f'[{{"targets": ["{exporter.address}"], "labels": {{"env": "dev"}}}}]')
    config = parse_config(
        "scrape_configs:\n  - job_name: files\n    scrape_interval: 1s\n"
        "    file_sd_configs:\n      - files: ['*.json']\n        refresh_interval: 1s\n",
        base_dir=str(tmp_path),
    )
    storage = MemoryStorage()
    manager = ScrapeManager(storage, ServerMetrics())
    try:
        await manager.apply(config)
        (loop,) = manager.loops()
        assert dict(loop.target.labels) == {
            "env": "dev",
            "instance": exporter.address,
            "job": "files",
        }
        for _ in range(50):
            if loop.health == "up":
                break
            await asyncio.sleep(0.1)
        assert loop.health == "up"
        targets.write_text("[]")
        for _ in range(60):
            if not manager.loops():
                break
            await asyncio.sleep(0.1)
        assert manager.loops() == []
    finally:
        await manager.stop()
    x = _one(storage, "x")
    assert x[0][1] == 1.0
    assert is_stale(x[-1][1])
    assert is_stale(_one(storage, "up")[-1][1])


async def test_manager_keeps_unchanged_loops_on_reload(exporter: Exporter) -> None:
    """Applying the same config again keeps the same loop object; a removed job's loop goes."""
    text = (
        f"scrape_configs:\n  - job_name: a\n    static_configs:"
        f" [{{targets: ['{exporter.address}']}}]\n"
    )
    manager = ScrapeManager(MemoryStorage(), ServerMetrics())
    try:
        await manager.apply(parse_config(text))
        (first,) = manager.loops()
        await manager.apply(parse_config(text))
        assert manager.loops() == [first]
        await manager.apply(parse_config(text.replace("job_name: a", "job_name: b")))
        (second,) = manager.loops()
        assert second is not first
        assert second.target.job == "b"
    finally:
        await manager.stop()
    assert math.isfinite(first.last_duration)


def test_static_config_labels_may_override_instance() -> None:
    """A group's instance label wins over the address."""
    job = ScrapeConfig(
        "j", 1000, 1000, static_configs=(StaticConfig(("h:1",), (("instance", "web"),)),)
    )
    target = make_target(job, "h:1", job.static_configs[0].labels, "static")
    assert dict(target.labels) == {"instance": "web", "job": "j"}


async def test_scrape_timeout_fails_the_scrape(exporter: Exporter) -> None:
    """A target slower than scrape_timeout is down with Prometheus's deadline message."""
    exporter.body = b"a 1\n"
    exporter.delay = 0.5
    storage = MemoryStorage()
    async with httpx.AsyncClient() as client:
        job = ScrapeConfig("app", 1_000, 200)
        target = make_target(job, exporter.address, (), "static")
        loop = ScrapeLoop(target, storage, client, ServerMetrics(), clock=Clock())
        await loop.scrape_once()
    assert loop.health == "down"
    assert loop.last_error.endswith("context deadline exceeded")
    assert _values(storage, "a") == {}


async def test_changed_job_settings_keep_staleness_tracking(exporter: Exporter) -> None:
    """After a reload that changes a job's settings, a vanished series still gets its marker."""
    exporter.body = b"a 1\nb 1\n"
    storage = MemoryStorage()
    text = (
        "scrape_configs:\n  - job_name: j\n    scrape_interval: INTERVAL\n"
        f"    static_configs: [{{targets: ['{exporter.address}']}}]\n"
    )
    manager = ScrapeManager(storage, ServerMetrics())
    try:
        await manager.apply(parse_config(text.replace("INTERVAL", "1h")))
        (first,) = manager.loops()
        await first.scrape_once()
        exporter.body = b"a 2\n"
        await manager.apply(parse_config(text.replace("INTERVAL", "2h")))
        (second,) = manager.loops()
        assert second is not first
        await second.scrape_once()
    finally:
        await manager.stop()
    assert is_stale(_one(storage, "b")[-1][1])


async def test_unreachable_target_is_down_with_the_url_in_the_error() -> None:
    """Nothing listening: up 0 and an error naming the URL, as Prometheus words it."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    storage = MemoryStorage()
    async with httpx.AsyncClient() as client:
        target = make_target(ScrapeConfig("app", 1_000, 1_000), address, (), "static")
        loop = ScrapeLoop(target, storage, client, ServerMetrics(), clock=Clock())
        await loop.scrape_once()
    assert loop.health == "down"
    assert loop.last_error.startswith(f'Get "http://{address}/metrics": ')
    assert _one(storage, "up") == [(1_700_000_000_000, 0.0)]


async def test_metric_relabeling_drops_and_rewrites_series(exporter: Exporter) -> None:
    """metric_relabel_configs run on each series; post_metric_relabeling counts what is kept."""
    exporter.body = b'go_gc_seconds 1\nreq_total{path="/a/1"} 2\nreq_total{path="/b/2"} 3\n'
    config = parse_config(
        "scrape_configs:\n  - job_name: app\n    metric_relabel_configs:\n"
        "      - {source_labels: [__name__], regex: 'go_.*', action: drop}\n"
        "      - {source_labels: [path], regex: '/(\\w+)/\\d+', target_label: path,"
        " replacement: '/$1/:id'}\n"
    )
    storage = MemoryStorage()
    async with httpx.AsyncClient() as client:
        target = make_target(config.scrape_configs[0], exporter.address, (), "static")
        loop = ScrapeLoop(target, storage, client, ServerMetrics(), clock=Clock())
        await loop.scrape_once()
        await loop.scrape_once()  # second scrape: from the parser's cache
    assert _values(storage, "go_gc_seconds") == {}
    paths = {dict(key)["path"] for key in _values(storage, "req_total")}
    assert paths == {"/a/:id", "/b/:id"}
    assert _one(storage, "scrape_samples_scraped")[0][1] == 3.0
    assert _one(storage, "scrape_samples_post_metric_relabeling")[0][1] == 2.0


async def test_basic_auth_and_bearer_token_headers(exporter: Exporter, tmp_path: Path) -> None:
    """basic_auth (password from a file) and bearer_token send Prometheus's headers."""
    (tmp_path / "pw").write_text("s3cret\n")
    exporter.body = b"a 1\n"
    text = (
        "scrape_configs:\n  - job_name: basic\n    basic_auth: {username: mon, password_file: pw}\n"
        "  - job_name: bearer\n    bearer_token: t0k\n"
    )
    config = parse_config(text, base_dir=str(tmp_path))
    async with httpx.AsyncClient() as client:
        for job in config.scrape_configs:
            target = make_target(job, exporter.address, (), "static")
            await ScrapeLoop(target, MemoryStorage(), client, ServerMetrics()).scrape_once()
    assert exporter.requests[0]["Authorization"] == "Basic bW9uOnMzY3JldA=="  # mon:s3cret
    assert exporter.requests[1]["Authorization"] == "Bearer t0k"


async def test_exemplars_are_stored_with_the_scrape(exporter: Exporter, tmp_path: Path) -> None:
    """Exemplars reach the store's ring with the scrape's labels and time; a failed scrape
    (malformed exposition) stores none of them; a repeated exemplar is stored once."""
    from vigie.store.tsdb import DiskStorage

    exporter.content_type = "application/openmetrics-text; version=1.0.0"
    exporter.body = (
        b'# TYPE lat histogram\nlat_bucket{le="1"} 2 # {trace_id="aa"} 0.5\n'
        b'lat_bucket{le="+Inf"} 2\nlat_sum 1\nlat_count 2\n# EOF\n'
    )
    clock = Clock()
    with DiskStorage(tmp_path, background=False) as storage:
        async with httpx.AsyncClient() as client:
            loop = _loop(exporter, storage, clock, client)  # type: ignore[arg-type]
            await loop.scrape_once()
            clock.now += 15
            await loop.scrape_once()  # the same exemplar again: not stored twice
            clock.now += 15
            exporter.body = exporter.body.replace(b'"aa"} 0.5', b'"bb"} 0.7').replace(
                b"lat_count 2", b"lat_count 2 x"
            )
            await loop.scrape_once()  # malformed: nothing of it stored, its exemplar neither
            assert loop.health == "down"
        found = storage.exemplars.select([[Matcher("__name__", "=", "lat_bucket")]], 0, 2**62)
    stored = [
        (dict(labels), [(e.labels, e.value, e.timestamp_ms) for e in f]) for labels, f in found
    ]
    assert stored == [
        (
            {"__name__": "lat_bucket", "instance": exporter.address, "job": "app", "le": "1",
             "team": "ai"},
            [((("trace_id", "aa"),), 0.5, 1_700_000_000_000)],
        )
    ]  # fmt: skip


async def test_steady_state_layout_then_churn_and_failure(exporter: Exporter) -> None:
    """Repeated identical scrapes reuse the previous layout; a vanished series still gets its
    marker, a failed scrape marks everything, and the next good scrape stores all again."""
    both = b"a 1\nb 2\n"
    exporter.body = both
    storage = MemoryStorage()
    clock = Clock()
    t = 1_700_000_000_000
    async with httpx.AsyncClient() as client:
        loop = _loop(exporter, storage, clock, client)
        for step in range(3):  # the second and third take the steady-state path
            clock.now += 15 * (step > 0)
            exporter.body = both.replace(b"a 1", b"a %d" % (step + 1))
            await loop.scrape_once()
        exporter.body = b"a 9\n"
        clock.now += 15
        await loop.scrape_once()
        exporter.body = b"a 9\nb 2 x\n"  # malformed
        clock.now += 15
        await loop.scrape_once()
        exporter.body = both
        clock.now += 15
        await loop.scrape_once()
    a = _one(storage, "a")
    assert [v for _, v in a[:4]] == [1.0, 2.0, 3.0, 9.0]
    assert is_stale(a[4][1])
    assert a[5] == (t + 75_000, 1.0)
    b = _one(storage, "b")
    assert [ts for ts, _ in b] == [t, t + 15_000, t + 30_000, t + 45_000, t + 75_000]
    assert is_stale(b[3][1])
    assert loop.last_error == ""
