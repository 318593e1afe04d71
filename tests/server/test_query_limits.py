"""vigie.query: PromQL limits from the config, enforced by a real server, changed by a reload."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.vigie_server import QUIET, serving_vigie
from vigie.exceptions import ConfigurationError
from vigie.server.config import parse_config
from vigie.server.query_limits import QueryGate, QuerySettings
from vigie.store.interface import Matcher, Series
from vigie.store.memory import MemoryQuerier, MemoryStorage

BASE = 1_700_000_000  # seconds


def _load(storage: MemoryStorage, series: int = 2, samples: int = 41) -> None:
    appender = storage.appender()
    for step in range(samples):
        for index in range(series):
            labels = {"__name__": "requests_total", "route": f"/{index}"}
            appender.append(labels, (BASE + step * 15) * 1000, float(step))
    appender.commit()


def _config(query: str) -> str:
    return QUIET + f"  query: {{{query}}}\n"


def _reload(url: str, workdir: Path, query: str) -> None:
    (workdir / "vigie.yml").write_text(_config(query), encoding="utf-8")
    response = httpx.post(url + "/-/reload", timeout=10)
    assert response.status_code == 200, response.text


def _query(url: str, expr: str, **params: Any) -> httpx.Response:
    return httpx.post(
        url + "/api/v1/query", data={"query": expr, "time": BASE + 600, **params}, timeout=30
    )


def test_query_section_is_read_with_defaults() -> None:
    """vigie.query values are read; absent keys keep Prometheus's flag defaults."""
    config = parse_config("vigie:\n  query:\n    timeout: 30s\n    max_samples: 1000\n")
    assert config.vigie.query == QuerySettings(timeout_ms=30_000, max_samples=1000)
    default = parse_config("").vigie.query
    assert default == QuerySettings(120_000, 50_000_000, 300_000, max(2, os.cpu_count() or 2))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("max_samples: 0", "vigie.yml:4: vigie.query.max_samples: expected a positive integer"),
        ("max_concurrency: many", "vigie.yml:4: vigie.query.max_concurrency: expected a positive"),
        ("timeout: 0s", "vigie.yml:4: vigie.query.timeout: must be greater than zero"),
        ("lookback_delta: 5x", "vigie.yml:4: vigie.query.lookback_delta: not a valid duration"),
        ("max_sample: 10", "vigie.yml:4: vigie.query.max_sample: unknown field"),
    ],
)
def test_bad_query_settings_name_field_and_line(line: str, message: str) -> None:
    """A wrong vigie.query value is refused with the file, line and field."""
    with pytest.raises(ConfigurationError) as caught:
        parse_config(f"global: {{}}\nvigie:\n  query:\n    {line}\n", path="vigie.yml")
    assert str(caught.value).startswith(message)


def test_max_samples_refuses_with_prometheus_error_and_reload_lifts_it(tmp_path: Path) -> None:
    """Over max_samples: 422 execution error in Prometheus's words; a reload raises the limit."""
    storage = MemoryStorage()
    with serving_vigie(_config("max_samples: 50"), tmp_path, storage) as (url, _port, _server):
        _load(storage)  # 2 series x 41 samples over 10 minutes
        response = _query(url, "count_over_time(requests_total[10m])")
        assert response.status_code == 422
        assert response.json() == {
            "status": "error",
            "errorType": "execution",
            "error": "query processing would load too many samples into memory in query execution",
        }
        assert _query(url, "requests_total").status_code == 200  # 2 samples: within the limit
        _reload(url, tmp_path, "max_samples: 100")
        response = _query(url, "count_over_time(requests_total[10m])")
        assert response.status_code == 200, response.text
        values = sorted(row["value"][1] for row in response.json()["data"]["result"])
        assert values == ["40", "40"]  # (t-10m, t]: the first sample is out


def test_timeout_from_config_and_request(tmp_path: Path) -> None:
    """vigie.query.timeout caps the evaluation (503 timeout); a request may only lower it."""
    storage = MemoryStorage()
    slow = " + ".join(["count_over_time(requests_total[10m])"] * 30)
    with serving_vigie(_config("timeout: 1ms"), tmp_path, storage) as (url, _port, server):
        _load(storage, series=20)
        response = _query(url, slow)
        assert response.status_code == 503
        assert response.json() == {
            "status": "error",
            "errorType": "timeout",
            "error": "query timed out in expression evaluation",
        }
        flags = httpx.get(url + "/api/v1/status/flags").json()["data"]
        assert (flags["query.timeout"], flags["query.max-samples"]) == ("1ms", "50000000")
        _reload(url, tmp_path, "timeout: 2m, lookback_delta: 1m, max_concurrency: 3")
        assert _query(url, slow).status_code == 200
        assert _query(url, slow, timeout="1ms").status_code == 503  # the request lowers it
        assert _query(url, slow, timeout="1h").status_code == 200  # but cannot raise it
        flags = httpx.get(url + "/api/v1/status/flags").json()["data"]
        assert flags["query.lookback-delta"] == "1m"
        assert flags["query.max-concurrency"] == "3"
        assert server.config.vigie.query.timeout_ms == 120_000


class _GatedQuerier(MemoryQuerier):
    """Selecting ``slow`` blocks until the test opens the gate: a query that holds its slot."""

    def __init__(self, storage: _GatedStorage) -> None:
        super().__init__(storage)
        self.events = storage

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Series]:
        if any(m.name == "__name__" and m.value == "slow" for m in matchers):
            self.events.entered.set()
            assert self.events.gate.wait(timeout=20)
        return super().select(matchers, mint, maxt)


class _GatedStorage(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def querier(self) -> MemoryQuerier:
        return _GatedQuerier(self)


def test_max_concurrency_queues_then_times_out_in_queue(tmp_path: Path) -> None:
    """Beyond max_concurrency a query waits; past its timeout: 503 'timed out in query queue'."""
    storage = _GatedStorage()
    with serving_vigie(_config("max_concurrency: 1"), tmp_path, storage) as (url, _p, _s):
        _load(storage)
        held: list[httpx.Response] = []
        holder = threading.Thread(target=lambda: held.append(_query(url, "slow")))
        holder.start()
        assert storage.entered.wait(timeout=10)
        queued = _query(url, "requests_total", timeout="300ms")
        assert queued.status_code == 503
        assert queued.json() == {
            "status": "error",
            "errorType": "timeout",
            "error": "query timed out in query queue",
        }
        waiting: list[httpx.Response] = []
        waiter = threading.Thread(target=lambda: waiting.append(_query(url, "requests_total")))
        waiter.start()
        waiter.join(timeout=0.5)
        assert waiter.is_alive()  # queued behind the slow query, not refused
        storage.gate.set()
        holder.join(timeout=10)
        waiter.join(timeout=10)
        assert held[0].status_code == 200
        assert waiting[0].status_code == 200
        storage.gate.clear()
        storage.entered.clear()
        _reload(url, tmp_path, "max_concurrency: 2")
        holder = threading.Thread(target=lambda: held.append(_query(url, "slow")))
        holder.start()
        assert storage.entered.wait(timeout=10)
        assert _query(url, "requests_total", timeout="300ms").status_code == 200
        storage.gate.set()
        holder.join(timeout=10)


def test_gate_waits_for_a_slot_and_gives_up_at_the_deadline() -> None:
    """QueryGate: a second acquire at limit 1 waits; it times out, or gets the freed slot."""

    async def scenario() -> list[str]:
        gate = QueryGate()
        events = []
        await gate.acquire(limit=1, timeout_s=1)
        with pytest.raises(TimeoutError):
            await gate.acquire(limit=1, timeout_s=0.05)
        events.append(f"timed out, active={gate.active}")
        waiter = asyncio.create_task(gate.acquire(limit=1, timeout_s=5))
        await asyncio.sleep(0.05)
        events.append(f"waiting={not waiter.done()}")
        await gate.release()
        await waiter
        events.append(f"acquired, active={gate.active}")
        return events

    assert asyncio.run(scenario()) == ["timed out, active=1", "waiting=True", "acquired, active=1"]


def test_a_query_abandoned_in_the_queue_is_not_evaluated(tmp_path: Path) -> None:
    """A client that gives up while its query waits frees the queue: the query never runs."""
    storage = _GatedStorage()
    with serving_vigie(_config("max_concurrency: 1"), tmp_path, storage) as (url, _p, server):
        _load(storage)
        held: list[httpx.Response] = []
        holder = threading.Thread(target=lambda: held.append(_query(url, "slow")))
        holder.start()
        assert storage.entered.wait(timeout=10)
        with pytest.raises(httpx.ReadTimeout):  # the dashboard gives up after 0.5 s
            httpx.get(url + "/api/v1/query", params={"query": "slow"}, timeout=0.5)
        storage.entered.clear()
        storage.gate.set()
        holder.join(timeout=10)
        assert held[0].status_code == 200
        registry = server.metrics.registry
        deadline = time.monotonic() + 10
        while (
            registry.get_sample_value(
                "vigie_queries_total", {"kind": "instant", "result": "canceled"}
            )
            != 1
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not storage.entered.is_set()  # the abandoned "slow" query never selected
