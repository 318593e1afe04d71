"""vigie's PromQL engine against a real Prometheus, same data, same queries.

One command::

    .venv/bin/python benchmarks/bench_promql.py            # ~1k series, 24 h of data
    .venv/bin/python benchmarks/bench_promql.py --instances 125   # ~10k series

It generates a deterministic data set (request counters by route/status/instance and latency
histogram buckets by route/instance, one sample every 30 s), loads it into vigie's in-memory store
and, through ``promtool tsdb create-blocks-from openmetrics``, into a real Prometheus (Debian's
``/usr/bin/prometheus``) started on loopback. Then, for a fixed set of dashboard and alert queries
(rate by route, error ratio, ``histogram_quantile(0.95, ...)``, ``topk``, ``*_over_time``) over
1 h and 24 h ranges, it runs interleaved rounds and prints the median latency of each side, the
ratio vigie / Prometheus (goal: at most 3) and whether the results are identical (relative
difference under 1e-9 for every point).

Sample timestamps sit 7 s off the query step grid so that no sample lies on a window boundary:
Debian ships Prometheus 2.42, whose windows are closed on the left, where 3.x (and vigie) are
left-open; away from the boundaries the two agree exactly.

vigie is measured in-process (``Engine.range``); Prometheus through its HTTP API (the only way to
reach it), so its figures include HTTP and JSON encoding: a few milliseconds per query.
``--quick`` runs a small data set and a single round (used to check the script runs).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from vigie.query import Engine
from vigie.store.memory import MemoryStorage

INTERVAL_S = 30
ROUTES = [f"/v1/route{i}" for i in range(10)]
BUCKETS = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"]

QUERIES = {
    "rate by route": "sum by (route) (rate(http_requests_total[5m]))",
    "error ratio": 'sum by (route) (rate(http_requests_total{status="500"}[5m])) '
    "/ sum by (route) (rate(http_requests_total[5m]))",
    "p95 latency": "histogram_quantile(0.95, sum by (le, route) "
    "(rate(http_request_duration_seconds_bucket[5m])))",
    "topk instances": "topk(5, sum by (instance) (rate(http_requests_total[5m])))",
    "avg_over_time": "avg_over_time(http_requests_total[10m])",
    "max_over_time subquery": "max_over_time(sum by (route) (rate(http_requests_total[5m]))"
    "[30m:1m] offset 7s)",
}


def generate(instances: int, hours: float, end_s: int) -> list[tuple[dict[str, str], Any, Any]]:
    """Deterministic series: (labels, timestamps in ms, values)."""
    rng = np.random.default_rng(42)
    count = int(hours * 3600 / INTERVAL_S)
    start_s = end_s - count * INTERVAL_S
    timestamps = (start_s + 7 + INTERVAL_S * np.arange(count)) * 1000
    series: list[tuple[dict[str, str], Any, Any]] = []
    for instance in range(instances):
        for route in ROUTES:
            base = {"route": route, "instance": f"10.0.0.{instance}:8000", "job": "app"}
            # instances differ in traffic, so topk has no ties (Prometheus breaks ties in an
            # order of its own: a Go map's, in range queries)
            ok = np.cumsum(rng.poisson(20 + 10 * instance, count)).astype(float)
            errors = np.cumsum(rng.poisson(1, count)).astype(float)
            for status, values in (("200", ok), ("500", errors)):
                labels = {"__name__": "http_requests_total", **base, "status": status}
                series.append((labels, timestamps, values))
            observed = ok + errors
            shares = np.cumsum(rng.dirichlet(np.ones(len(BUCKETS)), 1)[0])
            for bound, share in zip(BUCKETS, shares, strict=True):
                labels = {"__name__": "http_request_duration_seconds_bucket", **base, "le": bound}
                values = np.floor(observed * (1.0 if bound == "+Inf" else share))
                series.append((labels, timestamps, values))
    return series


def load_vigie(
    series: list[tuple[dict[str, str], Any, Any]],
    store: str = "memory",
    workdir: Path | None = None,
) -> Any:
    """vigie's store holding the data: the in-memory reference store, or the on-disk one
    (appended in time order, then flushed to blocks, as a long-running server would have it)."""
    if store == "memory":
        storage: Any = MemoryStorage()
    else:
        from vigie.store.tsdb import DiskStorage

        assert workdir is not None
        storage = DiskStorage(workdir / "vigie-data", fsync="never", retention_ms=None)
    count = len(series[0][1]) if series else 0
    chunk = 120  # samples per series per commit: time order, like scrapes
    for begin in range(0, count, chunk):
        appender = storage.appender()
        for labels, timestamps, values in series:
            appender.append_many(
                labels, timestamps[begin : begin + chunk], values[begin : begin + chunk]
            )
        appender.commit()
    if store == "disk":
        storage.flush()
    return storage


def write_openmetrics(series: list[tuple[dict[str, str], Any, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        names = sorted({labels["__name__"] for labels, _, _ in series})
        for name in names:
            out.write(f"# TYPE {name} gauge\n")
            for labels, timestamps, values in series:
                if labels["__name__"] != name:
                    continue
                pairs = ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
                for timestamp, value in zip(timestamps.tolist(), values.tolist(), strict=True):
                    out.write(f"{name}{{{pairs}}} {value} {timestamp / 1000:.3f}\n")
        out.write("# EOF\n")


def _load() -> str:
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prometheus:
    """A real Prometheus serving a TSDB built with promtool."""

    def __init__(self, workdir: Path, openmetrics: Path) -> None:
        data = workdir / "data"
        subprocess.run(
            ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(data)],
            check=True,
            capture_output=True,
            timeout=1800,
        )
        config = workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1m\n", encoding="utf-8")
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--query.max-samples=500000000",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.close()
        raise RuntimeError("Prometheus did not become ready")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query_range(self, expr: str, start_s: float, end_s: float, step_s: float) -> Any:
        params = urllib.parse.urlencode(
            {"query": expr, "start": start_s, "end": end_s, "step": step_s}
        )
        with urllib.request.urlopen(f"{self.url}/api/v1/query_range?{params}", timeout=300) as r:
            body = json.loads(r.read())
        if body["status"] != "success":
            raise RuntimeError(body)
        return body["data"]["result"]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def compare(vigie_result: Any, prometheus_result: Any) -> tuple[bool, float]:
    """Whether both matrices hold the same series and points; the worst relative difference."""
    ours = {
        tuple(sorted(s.labels.items())): dict(
            zip(s.timestamps.tolist(), s.values.tolist(), strict=True)
        )
        for s in vigie_result.series
    }
    theirs = {
        tuple(sorted(s["metric"].items())): {round(t * 1000): float(v) for t, v in s["values"]}
        for s in prometheus_result
    }
    if set(ours) != set(theirs):
        return False, math.inf
    worst = 0.0
    for key, points in ours.items():
        if set(points) != set(theirs[key]):
            return False, math.inf
        for timestamp, value in points.items():
            other = theirs[key][timestamp]
            if math.isnan(value) and math.isnan(other):
                continue
            scale = max(abs(value), abs(other), 1e-300)
            worst = max(worst, abs(value - other) / scale)
    return worst < 1e-9, worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=12, help="12 ≈ 1k series, 125 ≈ 10k")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--store", choices=["memory", "disk"], default="memory")
    parser.add_argument("--quick", action="store_true")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.instances, arguments.hours, arguments.rounds = 1, 2.0, 1
    if shutil.which("promtool") is None or shutil.which("prometheus") is None:
        print("needs Debian's prometheus package (promtool and prometheus)", file=sys.stderr)
        return 2
    end_s = int(time.time()) // 3600 * 3600
    series = generate(arguments.instances, arguments.hours, end_s)
    samples = sum(len(t) for _, t, _ in series)
    print(f"{len(series)} series, {samples} samples, {arguments.hours:g} h at {INTERVAL_S}s")
    ranges = [("1h", 3600, 15)]
    if arguments.hours >= 24:
        ranges.append(("24h", 24 * 3600 - 1800, 300))
    with tempfile.TemporaryDirectory() as workdir:
        storage = load_vigie(series, arguments.store, Path(workdir))
        engine = Engine(storage)
        print(f"vigie store: {arguments.store}")
        openmetrics = Path(workdir) / "data.om"
        write_openmetrics(series, openmetrics)
        del series
        prometheus = Prometheus(Path(workdir), openmetrics)
        try:
            rows = []
            print("load average before the queries (1, 5, 15 min): " + _load())
            for name, expr in QUERIES.items():
                for range_name, seconds, step in ranges:
                    start = end_s - seconds
                    ours: list[float] = []
                    theirs: list[float] = []
                    # one unmeasured run each: caches (vigie's blocks, Prometheus's) warm up
                    engine.range(expr, start * 1000, end_s * 1000, step * 1000)
                    prometheus.query_range(expr, start, end_s, step)
                    for _ in range(arguments.rounds):
                        began = time.perf_counter()
                        result = engine.range(expr, start * 1000, end_s * 1000, step * 1000)
                        ours.append(time.perf_counter() - began)
                        began = time.perf_counter()
                        reference = prometheus.query_range(expr, start, end_s, step)
                        theirs.append(time.perf_counter() - began)
                    same, worst = compare(result, reference)
                    rows.append(
                        (
                            name,
                            range_name,
                            statistics.median(ours),
                            statistics.median(theirs),
                            same,
                            worst,
                        )
                    )
        finally:
            prometheus.close()
            if arguments.store == "disk":
                storage.close()
    # The machine may be shared: the ratios (interleaved rounds) hold better than the times.
    print("load average after the queries (1, 5, 15 min): " + _load())
    print(f"{'query':24} {'range':5} {'vigie ms':>9} {'prom ms':>9} {'ratio':>6}  identical")
    for name, range_name, ours_s, theirs_s, same, worst in rows:
        print(
            f"{name:24} {range_name:5} {ours_s * 1000:9.1f} {theirs_s * 1000:9.1f} "
            f"{ours_s / theirs_s:6.2f}  {'yes' if same else f'NO (max rel diff {worst:.2g})'}"
        )
    return 0 if all(row[4] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
