"""Differential test: vigie's engine and a real Prometheus answer the same queries identically.

The same deterministic data goes into a MemoryStorage and, through ``promtool tsdb
create-blocks-from openmetrics``, into Debian's Prometheus (2.42) started on loopback. Every query
below runs as an instant and as a range query on both; results must match to 1e-9 relative.

Prometheus 2.x windows are closed on the left where 3.x (the semantics vigie follows) are
left-open: sample times (15 s + 3 s) and evaluation times (+7.5 s) are chosen so that no sample,
and no subquery step, ever sits on a window boundary, where the two versions would differ.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from support import free_port, require_binary
from vigie.exceptions import VigieError
from vigie.query import Engine, InstantVector, Matrix, Scalar
from vigie.store.memory import MemoryStorage

START_S = 1_700_000_000
HOURS = 1
AT_S = START_S + 3000 + 7.5
EXTRA = {"T": str(START_S + 1800)}

QUERIES = [
    "req_total",
    "rate(req_total[5m])",
    "sum by (job) (rate(req_total[5m]))",
    "sum without (instance) (irate(req_total[2m]))",
    "increase(req_total[10m])",
    "resets(req_total[30m])",
    'sum(rate(req_total{code=~"5.."}[5m])) / sum(rate(req_total[5m]))',
    "count by (code) (req_total)",
    "delta(temp[10m])",
    "idelta(temp[5m])",
    "deriv(temp[10m])",
    "predict_linear(temp[10m], 600)",
    "changes(temp[30m])",
    "avg_over_time(temp[10m])",
    "min_over_time(temp[10m])",
    "max_over_time(temp[10m])",
    "sum_over_time(temp[10m])",
    "count_over_time(temp[10m])",
    "last_over_time(temp[10m])",
    "stddev_over_time(temp[10m])",
    "stdvar_over_time(temp[10m])",
    "quantile_over_time(0.9, temp[10m])",
    "present_over_time(temp[10m])",
    "avg by (job) (temp)",
    "max(temp)",
    "min by (job) (temp)",
    "group by (job) (temp)",
    "stddev(temp)",
    "stdvar by (job) (temp)",
    "quantile(0.3, temp)",
    "topk(2, temp)",
    "bottomk by (job) (1, temp)",
    'count_values("v", round(temp))',
    "temp > 20",
    "temp > bool 20",
    "20 < temp",
    "rate(req_total[5m]) / on(instance) group_left temp",
    "temp * on(instance) group_right(code) rate(req_total[5m])",  # both refuse: duplicates
    "temp * on(instance) group_right(job) rate(req_total[5m])",
    "temp - ignoring(job) temp",
    "req_total and on(instance) (temp > 20)",
    "req_total unless on(instance) (temp > 21)",
    "temp or vector(1)",
    "histogram_quantile(0.9, sum by (le) (rate(lat_bucket[5m])))",
    "histogram_quantile(0.5, rate(lat_bucket[5m]))",
    "histogram_quantile(0.99, sum by (le, instance) (rate(lat_bucket[10m])))",
    'label_replace(temp, "host", "$1", "instance", "(.*):.*")',
    'label_join(temp, "both", "-", "instance", "job")',
    "abs(temp - 20)",
    "ceil(temp) + floor(temp)",
    "round(temp, 0.5)",
    "clamp(temp, 19, 21)",
    "clamp_min(temp, 20) + clamp_max(temp, 20)",
    "sqrt(temp) + exp(temp / 10) + ln(temp) + log2(temp) + log10(temp)",
    "sgn(temp - 20)",
    "sin(temp) + cos(temp) + tan(temp) + atan(temp) + sinh(temp / 10) + deg(temp) + rad(temp)",
    "timestamp(temp)",
    "time() - timestamp(temp)",
    'absent(nonexistent{job="a"})',
    "absent_over_time(temp[1m])",
    "scalar(sum(temp))",
    "vector(3) * scalar(count(temp))",
    "max_over_time(rate(req_total[5m])[20m:1m])",
    "avg_over_time(temp[10m] offset 5m)",
    "temp offset -2m",
    "temp @ T",
    "rate(req_total[5m] @ T)",
    "sum_over_time(temp[10m:30s] @ T)",
    "hour(timestamp(temp)) + minute(timestamp(temp)) + day_of_week(timestamp(temp))",
    "month() + year() + day_of_month() + day_of_year() + days_in_month()",
    "-temp ^ 2 % 7",
    "(temp atan2 20) + 0",  # 2.42 keeps the name on atan2 alone; 3.x drops it, as vigie
    "sum(temp) by (job) / ignoring(job) group_left sum(temp)",
    "req_total > bool on(instance, job, code) (req_total * 0.9)",
    "temp != temp",
    "temp == bool on(instance) group_left temp",
    "+temp - -temp",
    "max(sum by (job) (temp))",
    "count(count by (code) (req_total))",
    "sum by (job) (rate(req_total[5m])) > on(job) group_left sum by (job) (temp) / 100",
    "req_total unless ignoring(code) temp",
    'temp or label_replace(temp, "instance", "x", "instance", ".*")',
    'count_values by (job) ("v", round(temp))',
    'count_values without (instance) ("v", round(temp))',
    'count_values("job", round(temp))',
    "quantile by (job) (0.5, temp)",
    "topk by (job) (1, rate(req_total[5m]))",
    'label_replace(temp, "host", "$1", "instance", "nomatch(.*)")',
    "absent(temp)",
    "absent_over_time(nonexistent[5m])",
    "changes(req_total[5m])",
    "scalar(temp)",
    "vector(time())",
    "timestamp(rate(req_total[5m]))",
    "rate(req_total[5m:30s])",
    "min_over_time(temp[30m:1m] offset 3m)",
    "deriv(rate(req_total[5m])[10m:])",
    "predict_linear(temp[10m] @ T, 600)",
    "irate(temp[1m])",
    "sum_over_time(sum by (job) (temp)[15m:2m])",
    "max_over_time(max_over_time(temp[2m])[10m:1m])",
    "stddev by (job) (rate(req_total[5m]))",
    "avg(req_total) - avg(req_total offset 10m)",
    "sum(req_total) / count(req_total)",
    "temp > 19 < 21",
    "(temp > 20) * 2",
    "rate(lat_bucket[5m])",
    "sum by (le) (lat_bucket)",
    'histogram_quantile(0.75, sum by (le) (rate(lat_bucket{instance="10.0.0.1:9090"}[15m])))',
    "histogram_quantile(1, sum by (le) (lat_bucket))",
    "histogram_quantile(0, sum by (le) (lat_bucket))",
    'req_total{code!~"2.."}',
    'req_total{code=~"(?i)5.*", job!="db"}',
    '{__name__=~"req_total|temp", instance="10.0.0.0:9090"}',
    "sort(temp)",
    "count_over_time(temp[1m])",
    "last_over_time(temp[10m])",
    "temp offset 10m @ T",
    "rate(req_total[1m])",
    "clamp(temp, 21, 19)",
    "round(temp)",
    "temp % 0.7 + temp ^ 0.5",
    "count by (instance) (req_total > 100)",
    "sum(nonexistent)",
    "vector(1) and on() absent(nonexistent)",
    "avg_over_time(rate(req_total[2m])[7m:45s])",
    "quantile_over_time(0.25, rate(req_total[5m])[10m:1m])",
    "bottomk(3, sum by (instance, code) (rate(req_total[5m])))",
    "-sum by (instance) (temp) + on(instance) group_left max by (instance) (temp)",
    'max_over_time(req_total[1m]) > last_over_time(req_total{code="500"}[10m])',
]


def _data() -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    rng = np.random.default_rng(1)
    times = [(START_S + 3 + 15 * i) * 1000 for i in range(HOURS * 240)]
    series: list[tuple[dict[str, str], list[tuple[int, float]]]] = []
    for instance in range(4):
        base = {"instance": f"10.0.0.{instance}:9090", "job": "api" if instance < 2 else "db"}
        for code in ("200", "500", "503"):
            values = np.cumsum(rng.random(len(times)) * (instance + 1) * 3)
            if code == "500":  # a counter reset in the middle
                values[len(values) // 2 :] -= values[len(values) // 2] - 1.0
            labels = {"__name__": "req_total", **base, "code": code}
            series.append((labels, list(zip(times, values.tolist(), strict=True))))
        temperature = 20 + np.cumsum(rng.normal(0, 0.3, len(times)))
        points = [
            (t, v)
            for index, (t, v) in enumerate(zip(times, temperature.tolist(), strict=True))
            if not 100 <= index < 130  # a gap longer than the lookback
        ]
        series.append(({"__name__": "temp", **base}, points))
        cumulative = np.cumsum(rng.random((len(times), 5)) * [1, 3, 5, 2, 1], axis=0)
        counts = np.cumsum(cumulative, axis=1)
        for column, bound in enumerate(["0.1", "0.5", "1", "5", "+Inf"]):
            labels = {"__name__": "lat_bucket", **base, "le": bound}
            series.append((labels, list(zip(times, counts[:, column].tolist(), strict=True))))
    return series


class _Prometheus:
    def __init__(self, workdir: Path, data: list[tuple[dict[str, str], list[Any]]]) -> None:
        promtool = require_binary("promtool", package="prometheus")
        binary = require_binary("prometheus", package="prometheus")
        openmetrics = workdir / "data.om"
        with openmetrics.open("w", encoding="utf-8") as out:
            for name in sorted({labels["__name__"] for labels, _ in data}):
                out.write(f"# TYPE {name} gauge\n")
                for labels, points in data:
                    if labels["__name__"] != name:
                        continue
                    pairs = ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
                    for t, v in points:
                        out.write(f"{name}{{{pairs}}} {v!r} {t / 1000:.3f}\n")
            out.write("# EOF\n")
        tsdb = workdir / "tsdb"
        subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(tsdb)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        config = workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1m\n", encoding="utf-8")
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tsdb}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self._url("/-/ready"), timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.close()
        pytest.fail("Prometheus did not become ready within 60 s")

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def query(self, path: str, params: dict[str, Any]) -> Any:
        """The ``data`` of a successful answer, or None when Prometheus refuses the query."""
        url = self._url(f"{path}?{urllib.parse.urlencode(params)}")
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code in (400, 422):
                return None
            raise
        assert body["status"] == "success", body
        return body["data"]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, _Prometheus]]:
    data = _data()
    storage = MemoryStorage()
    appender = storage.appender()
    for labels, points in data:
        for t, v in points:
            appender.append(labels, t, v)
    appender.commit()
    prometheus = _Prometheus(tmp_path_factory.mktemp("prometheus"), data)
    try:
        yield Engine(storage), prometheus
    finally:
        prometheus.close()


def _same(ours: float, theirs: float) -> bool:
    if math.isnan(ours) or math.isnan(theirs):
        return math.isnan(ours) and math.isnan(theirs)
    if ours == theirs:
        return True
    return abs(ours - theirs) <= 1e-9 * max(abs(ours), abs(theirs)) or abs(ours - theirs) < 1e-12


def _go(text: str) -> float:
    return float(text.replace("Inf", "inf"))


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


@pytest.mark.parametrize("query", QUERIES)
def test_instant_query_matches_prometheus(both: tuple[Engine, _Prometheus], query: str) -> None:
    """An instant query gives Prometheus's labels and values."""
    engine, prometheus = both
    expr = query.replace("@ T", f"@ {EXTRA['T']}")
    theirs = prometheus.query("/api/v1/query", {"query": expr, "time": AT_S})
    if theirs is None:
        with pytest.raises(VigieError):
            engine.instant(expr, round(AT_S * 1000))
        return
    ours = engine.instant(expr, round(AT_S * 1000))
    if theirs["resultType"] == "scalar":
        assert isinstance(ours, Scalar)
        assert _same(ours.value, _go(theirs["result"][1]))
        return
    assert isinstance(ours, InstantVector)
    mine = {_key(s.labels): s.value for s in ours.samples}
    reference = {_key(s["metric"]): _go(s["value"][1]) for s in theirs["result"]}
    assert set(mine) == set(reference)
    for key, value in reference.items():
        assert _same(mine[key], value), (key, mine[key], value)


# Range queries where Prometheus 2.42 is known to differ from 3.x (which vigie follows): with
# ``@``, 2.42 evaluates predict_linear's window at each step (3.x pins it, as the corpus checks).
RANGE_VERSION_DIFFERENCES = {"predict_linear(temp[10m] @ T, 600)"}


@pytest.mark.parametrize("query", [q for q in QUERIES if q not in RANGE_VERSION_DIFFERENCES])
def test_range_query_matches_prometheus(both: tuple[Engine, _Prometheus], query: str) -> None:
    """A range query gives Prometheus's series and points at every step."""
    engine, prometheus = both
    expr = query.replace("@ T", f"@ {EXTRA['T']}")
    start, end, step = START_S + 1200 + 7.5, START_S + 3300 + 7.5, 30
    theirs = prometheus.query(
        "/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step}
    )
    if theirs is None:
        with pytest.raises(VigieError):
            engine.range(expr, round(start * 1000), round(end * 1000), step * 1000)
        return
    ours = engine.range(expr, round(start * 1000), round(end * 1000), step * 1000)
    assert isinstance(ours, Matrix)
    mine = {
        _key(s.labels): dict(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
        for s in ours.series
    }
    reference = {
        _key(s["metric"]): {round(t * 1000): _go(v) for t, v in s["values"]}
        for s in theirs["result"]
    }
    assert set(mine) == set(reference)
    for key, points in reference.items():
        assert set(mine[key]) == set(points), key
        for timestamp, value in points.items():
            assert _same(mine[key][timestamp], value), (key, timestamp, mine[key][timestamp], value)
