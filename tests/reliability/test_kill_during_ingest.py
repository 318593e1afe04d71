"""`kill -9` of the server during heavy ingest, 20 times: nothing acknowledged is lost.

Each round starts the server on the same data directory, runs writers (remote write: 200
samples per request over 20 series plus one marker sample; OTLP traces and logs, JSON) and
kills the process with SIGKILL after a random 0.3–1.5 s, while requests are in flight. Then the
store is opened in the test process (replaying the WAL, as a restart does) and must hold every
acknowledged marker sample and every acknowledged filler sample, and pass ``check()``; the
telemetry databases must hold every acknowledged span and log line. The server is restarted and
queried over HTTP as well.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from reliability.server_process import (
    REMOTE_WRITE_HEADERS,
    ServerProcess,
    otlp_logs,
    otlp_traces,
    remote_write_body,
)
from vigie.store.interface import Matcher
from vigie.store.tsdb import DiskStorage

pytestmark = pytest.mark.slow

ROUNDS = 20
SERIES = 20
SAMPLES_PER_SERIES = 10


@dataclass
class Acknowledged:
    markers: list[tuple[str, int]] = field(default_factory=list)
    spans: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    requests: int = 0


def _write_samples(
    url: str, writer: str, start_ms: int, stop: threading.Event, acked: Acknowledged
) -> None:
    client = httpx.Client(timeout=5)
    index = 0
    while not stop.is_set():
        timestamp = start_ms + index * SAMPLES_PER_SERIES
        series = [
            ({"__name__": "kill_filler", "writer": writer, "series": str(s)},
             [(timestamp + k, float(index)) for k in range(SAMPLES_PER_SERIES)])
            for s in range(SERIES)
        ]  # fmt: skip
        series.append(({"__name__": "kill_marker", "writer": writer}, [(timestamp, float(index))]))
        try:
            response = client.post(url + "/api/v1/write", content=remote_write_body(series),
                                   headers=REMOTE_WRITE_HEADERS)  # fmt: skip
        except httpx.HTTPError:
            break  # the server died mid-request: not acknowledged
        if response.status_code == 204:
            acked.markers.append((writer, timestamp))
            acked.requests += 1
        index += 1
    client.close()


def _write_telemetry(url: str, tag: str, stop: threading.Event, acked: Acknowledged) -> None:
    client = httpx.Client(timeout=5)
    index = 0
    while not stop.is_set():
        now_ns = time.time_ns()
        trace_id = f"{random.getrandbits(128):032x}"
        span_ids = [f"{random.getrandbits(64):016x}" for _ in range(5)]
        lines = [f"{tag}-line-{index}-{k}" for k in range(5)]
        try:
            spans = client.post(url + "/v1/traces", content=otlp_traces(trace_id, span_ids, now_ns),
                                headers={"Content-Type": "application/json"})  # fmt: skip
            if spans.status_code == 200:
                acked.spans.extend(span_ids)
            logs = client.post(url + "/v1/logs", content=otlp_logs(lines, now_ns),
                               headers={"Content-Type": "application/json"})  # fmt: skip
            if logs.status_code == 200:
                acked.logs.extend(lines)
        except httpx.HTTPError:
            break
        index += 1
    client.close()


def _present_telemetry(data: Path) -> tuple[set[str], set[str]]:
    spans: set[str] = set()
    logs: set[str] = set()
    traces_db, logs_db = data / "telemetry" / "traces.db", data / "telemetry" / "logs.db"
    if traces_db.exists():
        with sqlite3.connect(traces_db) as connection:
            spans = {row[0] for row in connection.execute("SELECT span_id FROM spans")}
    if logs_db.exists():
        with sqlite3.connect(logs_db) as connection:
            logs = {row[0] for row in connection.execute("SELECT body FROM logs")}
    return spans, logs


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, int]]:
    """Run the 20 kill rounds once; each round's acknowledged and missing counts."""
    root = tmp_path_factory.mktemp("kill")
    config = root / "vigie.yml"
    config.write_text("vigie:\n  self_monitoring: {enabled: false}\n")
    data = root / "data"
    server = ServerProcess(config, data)
    acked = Acknowledged()
    rng = random.Random(1234)
    start_ms = int(time.time() * 1000) - 3_600_000
    results = []
    try:
        for round_number in range(ROUNDS):
            server.start()
            stop = threading.Event()
            base = start_ms + round_number * 10_000_000
            writers = [
                threading.Thread(target=_write_samples, args=(server.url, "a", base, stop, acked)),
                threading.Thread(target=_write_samples, args=(server.url, "b", base, stop, acked)),
                threading.Thread(target=_write_telemetry,
                                 args=(server.url, f"r{round_number}", stop, acked)),
            ]  # fmt: skip
            for writer in writers:
                writer.start()
            time.sleep(rng.uniform(0.3, 1.5))
            server.kill()
            stop.set()
            for writer in writers:
                writer.join(timeout=30)

            storage = DiskStorage(data)
            try:
                report = storage.check()
                querier = storage.querier()
                markers = querier.select([Matcher("__name__", "=", "kill_marker")], 0, 2**62)
                stored = {
                    (series.labels["writer"], timestamp)
                    for series in markers
                    for timestamp in series.timestamps.tolist()
                }
                fillers = querier.select([Matcher("__name__", "=", "kill_filler")], 0, 2**62)
                filler_samples = sum(len(series.timestamps) for series in fillers)
            finally:
                storage.close()
            spans, logs = _present_telemetry(data)
            results.append({
                "round": round_number,
                "acked_requests": acked.requests,
                "missing_markers": len(set(acked.markers) - stored),
                "filler_shortfall": max(0, acked.requests * SERIES * SAMPLES_PER_SERIES
                                        - filler_samples),
                "integrity_problems": len(report.problems),
                "acked_spans": len(acked.spans),
                "missing_spans": len(set(acked.spans) - spans),
                "acked_logs": len(acked.logs),
                "missing_logs": len(set(acked.logs) - logs),
            })  # fmt: skip
        server.start()  # one last restart: the HTTP API serves what was kept
        response = httpx.get(server.url + "/api/v1/query",
                             params={"query": "sum(count_over_time(kill_marker[100y]))",
                                     "time": str((start_ms + ROUNDS * 10**7) / 1000)})  # fmt: skip
        served = int(float(response.json()["data"]["result"][0]["value"][1]))
        results.append({"round": ROUNDS, "served_markers": served,
                        "acked_markers": len(set(acked.markers))})  # fmt: skip
        server.stop()
    finally:
        server.kill()
    for result in results:
        print(result)
    return results


def test_every_acknowledged_sample_survives_kill_9(rounds: list[dict[str, int]]) -> None:
    """20 SIGKILLs during remote write: every acknowledged sample is kept, check() is clean."""
    kills = rounds[:-1]
    assert len(kills) == ROUNDS
    assert kills[-1]["acked_requests"] > ROUNDS * 5  # the ingest was real
    assert [r["missing_markers"] for r in kills] == [0] * ROUNDS
    assert [r["filler_shortfall"] for r in kills] == [0] * ROUNDS
    assert [r["integrity_problems"] for r in kills] == [0] * ROUNDS
    assert rounds[-1]["served_markers"] >= rounds[-1]["acked_markers"]


def test_every_acknowledged_span_and_log_survives_kill_9(rounds: list[dict[str, int]]) -> None:
    """20 SIGKILLs during OTLP ingest: every acknowledged span and log line is kept."""
    kills = rounds[:-1]
    assert kills[-1]["acked_spans"] > 0
    assert kills[-1]["acked_logs"] > 0
    assert [r["missing_spans"] for r in kills] == [0] * ROUNDS
    assert [r["missing_logs"] for r in kills] == [0] * ROUNDS
