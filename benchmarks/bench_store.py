"""vigie's DiskStorage against a real Prometheus 2.42 on the same samples.

Workload: ``--targets`` scrape targets (default 5; ``--scale 1`` is the issue's 1,000) of an
AI web app, ~100 series each (HTTP counters, latency histograms per route, LLM token / latency /
cost series, process gauges), scraped every 15 s for ``--hours`` (default 24). Each target
restarts about twice a day (every counter resets); half of the restarts come back as a new pod
(new ``instance`` label: series churn). 20 % of scrapes carry 1 ms of timestamp jitter.

Measured, side by side:

* bytes per sample on disk: vigie blocks after ``flush()`` (compacted up to 24 h blocks) / the
  blocks ``promtool tsdb create-blocks-from openmetrics`` writes (2 h blocks; their index is a
  larger share; fed one 2 h window of OpenMetrics text at a time, since promtool re-reads its
  whole input for every block), and the chunk files alone (the sample encoding, without index);
* ingest CPU per million samples: vigie's ``append_refs``/``commit`` (one commit per target scrape,
  WAL with the chosen fsync policy) / Prometheus's own process CPU while receiving samples
  through its remote-write receiver (protobuf + snappy decoding included; the memory workload),
  and promtool's CPU for the OpenMetrics import (text parsing included);
* memory per active series: resident-set growth (and peak, VmHWM growth) while holding
  ``--memory-hours`` (default 1) of ``--memory-targets`` (default 100, ~10,000 series) in the head
  (vigie in a child process, Prometheus fed by remote write; the ingest CPU figures above come
  from the same run);
* time to select every series of one metric over the whole range: vigie ``querier().select`` /
  Prometheus ``GET /api/v1/query?query=metric[24h]`` (HTTP and JSON included; read, not decoded).

Memory stays bounded at any scale: targets are generated one at a time into memory-mapped files
under ``--scratch`` (4.6 GB of disk for the issue's 1,000 targets x 24 h), and the OpenMetrics
text for promtool is written one 2 h window at a time (~4 GB per window at full scale).

Run::

    .venv/bin/python benchmarks/bench_store.py                 # ~3-5 minutes on 2 cores
    .venv/bin/python benchmarks/bench_store.py --targets 1 --hours 6 --memory-targets 5  # quick
    # the issue's 1,000 targets: ~580M samples, hours of CPU (use fsync=never, Prometheus's policy)
    nice .venv/bin/python benchmarks/bench_store.py --scale 1 --memory-targets 1000 --fsync never
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vigie.store.interface import Matcher
from vigie.store.tsdb import DiskStorage

STEP_MS = 15_000
START_MS = 1_700_000_000_000 // 86_400_000 * 86_400_000
ROUTES = ("/chat", "/embed", "/search", "/health")
STATUSES = ("200", "429", "500")
STATUS_SHARE = (0.97, 0.02, 0.01)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LLM_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
MODELS = ("gpt-4o-mini", "claude-haiku")
SELECTED_METRIC = "http_request_duration_seconds_bucket"


# -- workload --------------------------------------------------------------------------------


@dataclass
class Family:
    """One OpenMetrics family: its type and the sample names/labels of its series."""

    name: str
    kind: str
    series: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@dataclass
class Segment:
    """One pod of one target: ~100 series over a run of scrapes."""

    labels: list[dict[str, str]]
    k0: int
    timestamps: np.ndarray  # (steps,)
    values: np.ndarray  # (steps, series)


def _families() -> list[Family]:
    http = Family("http_requests", "counter")
    for route in ROUTES:
        for status in STATUSES:
            method = "GET" if route == "/health" else "POST"
            http.series.append(
                ("http_requests_total", {"method": method, "route": route, "status": status})
            )
    latency = Family("http_request_duration_seconds", "histogram")
    for route in ROUTES:
        for le in (*HTTP_BUCKETS, float("inf")):
            bound = "+Inf" if le == float("inf") else repr(le)
            latency.series.append(
                ("http_request_duration_seconds_bucket", {"route": route, "le": bound})
            )
        latency.series.append(("http_request_duration_seconds_sum", {"route": route}))
        latency.series.append(("http_request_duration_seconds_count", {"route": route}))
    tokens = Family("llm_tokens", "counter")
    for model in MODELS:
        for kind in ("input", "output"):
            tokens.series.append(("llm_tokens_total", {"model": model, "kind": kind}))
    llm = Family("llm_request_duration_seconds", "histogram")
    for model in MODELS:
        for le in (*LLM_BUCKETS, float("inf")):
            bound = "+Inf" if le == float("inf") else repr(le)
            llm.series.append(
                ("llm_request_duration_seconds_bucket", {"model": model, "le": bound})
            )
        llm.series.append(("llm_request_duration_seconds_sum", {"model": model}))
        llm.series.append(("llm_request_duration_seconds_count", {"model": model}))
    cost = Family("llm_cost_dollars", "counter")
    for model in MODELS:
        cost.series.append(("llm_cost_dollars_total", {"model": model}))
    cpu = Family("process_cpu_seconds", "counter")
    cpu.series.append(("process_cpu_seconds_total", {}))
    gauges = [
        Family(name, "gauge", [(name, {})])
        for name in (
            "process_resident_memory_bytes",
            "http_requests_in_flight",
            "vector_index_documents",
            "llm_queue_depth",
            "process_open_fds",
            "up",
            "scrape_duration_seconds",
        )
    ]
    return [http, latency, tokens, llm, cost, cpu, *gauges]


def _restart_counters(increments: np.ndarray, restarts: np.ndarray) -> np.ndarray:
    """Cumulative counters (steps x series) that fall back to the increment at each restart."""
    total = np.cumsum(increments, axis=0)
    before = np.zeros_like(total)
    before[1:] = total[:-1]
    offset = np.where(restarts[:, None], before, 0.0)
    offset = np.maximum.accumulate(offset, axis=0)
    return total - offset


def _histogram(
    rng: np.random.Generator, counts: np.ndarray, bounds: tuple[float, ...], scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step bucket increments (steps x buckets incl. +Inf) and duration sums."""
    edges = np.array((*bounds, np.inf))
    cdf = np.clip(1 - np.exp(-np.array(bounds) / scale), 0, 1)
    shares = np.diff(np.concatenate(([0.0], cdf, [1.0])))
    per_bin = rng.multinomial(counts.astype(np.int64), shares)
    cumulative = np.cumsum(per_bin, axis=1)[:, : len(edges)]
    sums = counts * scale * rng.uniform(0.8, 1.2, counts.size)
    return cumulative.astype(np.float64), sums


def _target_values(rng: np.random.Generator, steps: int, phase: float) -> np.ndarray:
    """Per-step increments or gauge values for one target's 100 series (steps x 100)."""
    k = np.arange(steps)
    diurnal = 1 + 0.5 * np.sin(2 * np.pi * (k * STEP_MS / 86_400_000 + phase))
    columns: list[np.ndarray] = []
    route_rates = (40.0, 15.0, 25.0, 4.0)
    route_counts = []
    for rate in route_rates:
        total = rng.poisson(rate * diurnal)
        route_counts.append(total)
        for share in STATUS_SHARE:
            columns.append(rng.binomial(total, share).astype(np.float64))
    for total, scale in zip(route_counts, (0.3, 0.05, 0.08, 0.002), strict=True):
        buckets, sums = _histogram(rng, total, HTTP_BUCKETS, scale)
        columns.extend(buckets.T)
        columns.append(sums)
        columns.append(total.astype(np.float64))
    llm_counts = [rng.poisson(6 * diurnal), rng.poisson(3 * diurnal)]
    for total in llm_counts:
        columns.append(total * rng.poisson(350, steps).astype(np.float64))
        columns.append(total * rng.poisson(120, steps).astype(np.float64))
    for total in llm_counts:
        buckets, sums = _histogram(rng, total, LLM_BUCKETS, 1.5)
        columns.extend(buckets.T)
        columns.append(sums)
        columns.append(total.astype(np.float64))
    for total, price in zip(llm_counts, (0.00021, 0.00034), strict=True):
        columns.append(total * price * rng.uniform(0.7, 1.3, steps))
    columns.append(rng.gamma(2.0, 0.06, steps) * diurnal)  # process_cpu_seconds_total increments
    memory = 350e6 + np.cumsum(rng.integers(-2, 3, steps)) * 4096.0
    columns.append(np.round(memory))
    columns.append(np.round(rng.poisson(3 * diurnal)).astype(np.float64))
    columns.append(np.floor(10_000 + k / 40))
    columns.append(np.round(rng.poisson(1 * diurnal)).astype(np.float64))
    columns.append(np.round(40 + rng.integers(0, 3, steps)).astype(np.float64))
    columns.append(np.ones(steps))
    columns.append(np.round(rng.gamma(3.0, 0.004, steps), 6))
    return np.column_stack(columns)


COUNTER_COLUMNS = 12 + 4 * 13 + 4 + 2 * 10 + 2 + 1  # everything before the gauges


def workload(
    targets: int, hours: float, seed: int = 42, directory: Path | None = None
) -> tuple[list[Family], list[Segment]]:
    """The deterministic sample set both stores get.

    Each target has its own random stream (``seed``, target number), so targets are generated
    one at a time; with ``directory`` their values go to memory-mapped files there (the issue's
    1,000 targets x 24 h are 4.6 GB of float64: on disk, paged in as ingestion reaches them).
    """
    steps = int(hours * 3_600_000 // STEP_MS)
    families = _families()
    flat = [(name, labels) for family in families for name, labels in family.series]
    segments: list[Segment] = []
    for target in range(targets):
        rng = np.random.default_rng([seed, target])
        raw = _target_values(rng, steps, phase=rng.uniform())
        restarts = rng.random(steps) < 2 / (86_400_000 / STEP_MS)
        restarts[0] = False
        counters = _restart_counters(raw[:, :COUNTER_COLUMNS], restarts)
        if directory is None:
            values = raw.copy()
        else:
            values = np.lib.format.open_memmap(
                directory / f"target-{target}.npy", mode="w+", dtype=np.float64, shape=raw.shape
            )
            values[:] = raw
        values[:, :COUNTER_COLUMNS] = counters
        offset = int(rng.integers(0, STEP_MS))
        jitter = np.where(rng.random(steps) < 0.2, rng.integers(-1, 2, steps), 0)
        timestamps = START_MS + offset + np.arange(steps, dtype=np.int64) * STEP_MS + jitter
        cuts = [0]
        for k in np.flatnonzero(restarts).tolist():
            if rng.random() < 0.5:  # comes back as a new pod: new instance label
                cuts.append(k)
        cuts.append(steps)
        for pod, (k0, k1) in enumerate(itertools.pairwise(cuts)):
            instance = f"app-{target}-{pod}:8000"
            labels = [
                {"__name__": name, "job": "ai-app", "instance": instance, **extra}
                for name, extra in flat
            ]
            segments.append(Segment(labels, k0, timestamps[k0:k1], values[k0:k1]))
    return families, segments


def samples_in(segments: list[Segment], steps: int | None = None) -> int:
    """How many samples the segments hold (in their first ``steps`` scrapes)."""
    total = 0
    for segment in segments:
        rows = segment.values.shape[0]
        if steps is not None:
            rows = max(0, min(rows, steps - segment.k0))
        total += rows * segment.values.shape[1]
    return total


def scrapes(segments: list[Segment], steps: int) -> Iterator[tuple[Segment, int]]:
    """(segment, row) of every target scrape, in time order."""
    by_start: dict[int, list[Segment]] = {}
    for segment in segments:
        by_start.setdefault(segment.k0, []).append(segment)
    active: list[Segment] = []
    for k in range(steps):
        active += by_start.get(k, [])
        active = [s for s in active if k - s.k0 < s.values.shape[0]]
        for segment in active:
            yield segment, k - segment.k0


# -- vigie --------------------------------------------------------------------------------------


def vigie_ingest(storage: DiskStorage, segments: list[Segment], steps: int) -> float:
    """Ingest scrape by scrape (one commit per target scrape), through series refs kept per
    target as the scrape loop does (``ref`` once, then ``append_refs``); returns CPU seconds."""
    started = time.process_time()
    refs: dict[int, list[object]] = {}
    for segment, row in scrapes(segments, steps):
        appender = storage.appender()
        t = int(segment.timestamps[row])
        batch = refs.get(id(segment))
        if batch is None:
            batch = refs[id(segment)] = [appender.ref(labels) for labels in segment.labels]
        appender.append_refs(batch, t, segment.values[row].tolist())
        appender.commit()
    return time.process_time() - started


def rss_kib(pid: int | str = "self") -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(rest.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def memory_child(args: argparse.Namespace) -> None:
    """Child mode: ingest the first --memory-hours into a fresh store, print RSS growth."""
    _, segments = workload(args.memory_targets, args.memory_hours)
    steps = int(args.memory_hours * 3_600_000 // STEP_MS)
    with tempfile.TemporaryDirectory() as directory:
        rss_before, _ = rss_kib()
        storage = DiskStorage(directory, fsync="never", retention_ms=None)
        vigie_ingest(storage, segments, steps)
        rss_after, peak = rss_kib()
        series = storage.stats().head_series
        storage.close()
    print(json.dumps({"rss_delta_kib": rss_after - rss_before, "peak_kib": peak - rss_before,
                      "series": series}))  # fmt: skip


# -- Prometheus ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def openmetrics(
    families: list[Family], segments: list[Segment], path: Path, mint: int, maxt: int
) -> int:
    """Write the samples with ``mint <= t < maxt`` as OpenMetrics, one family after the other
    (as promtool wants); returns how many. promtool re-reads its whole input once per 2 h block
    it writes, so the benchmark hands it one 2 h window at a time (bounded files, one pass)."""
    offsets: dict[str, int] = {}
    position = 0
    for family in families:
        offsets[family.name] = position
        position += len(family.series)
    rows = {}
    for segment in segments:
        low, high = np.searchsorted(segment.timestamps, [mint, maxt])
        if high > low:
            rows[id(segment)] = (int(low), int(high))
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for family in families:
            out.write(f"# TYPE {family.name} {family.kind}\n")
            first = offsets[family.name]
            count = len(family.series)
            for segment in segments:
                if id(segment) not in rows:
                    continue
                low, high = rows[id(segment)]
                names = [segment.labels[first + i] for i in range(count)]
                heads = [
                    labels["__name__"]
                    + "{"
                    + ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
                    + "} "
                    for labels in names
                ]
                times = segment.timestamps[low:high].tolist()
                stamps = [f" {t // 1000}.{t % 1000:03d}\n" for t in times]
                block = segment.values[low:high, first : first + count]
                for stamp, row in zip(stamps, block.tolist(), strict=True):
                    out.write("".join(h + repr(v) + stamp for h, v in zip(heads, row, strict=True)))
                written += len(times) * count
        out.write("# EOF\n")
    return written


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def remote_write_body(segment: Segment, rows: range) -> bytes:
    """A snappy-compressed remote-write 1.0 WriteRequest with ``rows`` of one segment."""
    import cramjam

    series = []
    stamps = segment.timestamps[rows.start : rows.stop].tolist()
    block = segment.values[rows.start : rows.stop].T.tolist()
    for labels, values in zip(segment.labels, block, strict=True):
        body = b"".join(
            _field(1, _field(1, k.encode()) + _field(2, v.encode()))
            for k, v in sorted(labels.items())
        )
        for t, v in zip(stamps, values, strict=True):
            sample = b"\x09" + struct.pack("<d", v) + b"\x10" + _varint(t)
            body += _field(2, sample)
        series.append(_field(1, body))
    return bytes(cramjam.snappy.compress_raw(b"".join(series)))


class Prometheus:
    """A real ``prometheus`` process on loopback."""

    def __init__(self, data_dir: Path, *, remote_write: bool = False) -> None:
        self.port = free_port()
        config = data_dir.parent / f"prometheus-{self.port}.yml"
        config.write_text("global:\n  scrape_interval: 1h\n")
        command = [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=3650d",
            "--log.level=warn",
            "--query.max-samples=2000000000",  # the full-scale 24 h select is ~230M samples
        ]
        if remote_write:
            command.append("--web.enable-remote-write-receiver")
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.get("/-/ready")
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready")

    def get(self, path: str) -> bytes:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=300) as response:
            return bytes(response.read())

    def post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=body,
            headers={
                "Content-Encoding": "snappy",
                "Content-Type": "application/x-protobuf",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
            },
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metric(self, name: str) -> float:
        for line in self.get("/metrics").decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def remote_write_ingest(
    prometheus: Prometheus, segments: list[Segment], steps: int, rows_per_request: int = 20
) -> tuple[float, int]:
    """Push the first ``steps`` scrapes in time order; returns (Prometheus CPU s, samples)."""
    bodies: list[tuple[int, bytes]] = []
    for start in range(0, steps, rows_per_request):
        for segment in segments:
            low = max(start - segment.k0, 0)
            high = min(start + rows_per_request - segment.k0, segment.values.shape[0])
            if high > low:
                rows = range(low, high)
                bodies.append((len(rows) * len(segment.labels), remote_write_body(segment, rows)))
    before = prometheus.cpu_seconds()
    for _, body in bodies:
        prometheus.post("/api/v1/write", body)
    return prometheus.cpu_seconds() - before, sum(n for n, _ in bodies)


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def chunk_size(path: Path) -> int:
    """Bytes of the blocks' chunk files only (sample data, no index)."""
    return sum(
        p.stat().st_size
        for meta in path.rglob("meta.json")
        for p in meta.parent.rglob("*")
        if p.is_file() and (p.parent.name == "chunks" or p.name == "chunks")
    )


# -- main ---------------------------------------------------------------------------------------


def log(message: str) -> None:
    """Progress, with the time: a full-scale run takes hours."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def prometheus_select(server: Prometheus, hours: float, end_ms: int) -> tuple[float, int, int]:
    """(median seconds of 3 range selects of SELECTED_METRIC over the window, series, samples).

    The answer is read to the end but not decoded (at full scale it is gigabytes of JSON);
    the counts come from a ``count_over_time`` query over the same window.
    """
    window = f"%5B{int(hours * 60)}m%5D"
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        url = f"http://127.0.0.1:{server.port}/api/v1/query?query={SELECTED_METRIC}{window}"
        with urllib.request.urlopen(f"{url}&time={end_ms / 1000}", timeout=3600) as response:
            while response.read(1 << 20):
                pass
        timings.append(time.perf_counter() - started)
    query = f"count_over_time({SELECTED_METRIC}{window})&time={end_ms / 1000}"
    counts = json.loads(server.get(f"/api/v1/query?query={query}"))["data"]["result"]
    return sorted(timings)[1], len(counts), sum(int(r["value"][1]) for r in counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=5)
    parser.add_argument(
        "--scale", type=float, help="fraction of the issue's 1,000 targets (overrides --targets)"
    )
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--memory-targets", type=int, default=100)
    parser.add_argument("--memory-hours", type=float, default=1)
    parser.add_argument("--fsync", default="always", help="vigie WAL policy: always|never|seconds")
    parser.add_argument("--scratch", help="directory for the stores and workload (default: /tmp)")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale is not None:
        args.targets = max(1, round(1000 * args.scale))
    if args.memory_child:
        memory_child(args)
        return
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        sys.exit("needs the Debian prometheus package (prometheus and promtool on PATH)")
    fsync = args.fsync if args.fsync in ("always", "never") else float(args.fsync)
    steps = int(args.hours * 3_600_000 // STEP_MS)
    print(f"workload: {args.targets} targets x ~100 series, 15 s interval, {args.hours} h")
    selector = [Matcher("__name__", "=", SELECTED_METRIC)]
    results: dict[str, dict[str, float]] = {"vigie": {}, "prometheus": {}}
    notes: list[str] = []
    started_at = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-store-", dir=args.scratch) as scratch:
        root = Path(scratch)
        (root / "workload").mkdir()
        families, segments = workload(args.targets, args.hours, directory=root / "workload")
        total = samples_in(segments)
        series_count = sum(len(s.labels) for s in segments)
        log(f"{series_count} series (with churn), {total:,} samples generated")
        end_ms = max(int(s.timestamps[-1]) for s in segments)
        # vigie: ingest, flush, size, select
        storage = DiskStorage(root / "vigie", fsync=fsync, retention_ms=None)
        wall = time.perf_counter()
        cpu = vigie_ingest(storage, segments, steps)
        wall = time.perf_counter() - wall
        log(f"vigie ingest: {cpu:.1f} s CPU, {wall:.1f} s wall (fsync={args.fsync})")
        storage.flush()
        vigie_blocks = tree_size(root / "vigie" / "blocks")
        results["vigie"]["bytes/sample, blocks"] = vigie_blocks / total
        results["vigie"]["ingest CPU s / 1M samples"] = cpu / total * 1e6
        results["vigie"]["ingest samples/s (CPU)"] = total / cpu
        if args.fsync != "never":
            relaxed = DiskStorage(root / "vigie-nofsync", fsync="never", retention_ms=None)
            relaxed_cpu = vigie_ingest(relaxed, segments, steps)
            relaxed.close()
            shutil.rmtree(root / "vigie-nofsync")
            notes.append(
                f"vigie ingest with fsync=never (Prometheus's WAL policy): "
                f"{total / relaxed_cpu:,.0f} samples/s CPU ({relaxed_cpu / total * 1e6:.2f} s / 1M)"
            )
        timings = []
        for _ in range(3):
            began = time.perf_counter()
            found = storage.querier().select(selector, end_ms - int(args.hours * 3_600_000), end_ms)
            timings.append(time.perf_counter() - began)
        vigie_series, vigie_points = len(found), sum(s.timestamps.size for s in found)
        del found
        results["vigie"]["select one metric, s"] = sorted(timings)[1]
        storage.close()
        results["vigie"]["bytes/sample, chunk files only"] = chunk_size(root / "vigie") / total
        shutil.rmtree(root / "vigie")
        log(f"vigie: {json.dumps(results['vigie'])}")  # a long run's partial result
        log("vigie done; Prometheus backfill (promtool, one 2 h window at a time)")
        # Prometheus, part 1: promtool backfill (bytes on disk), then query it over HTTP.
        prom_dir = root / "prometheus"
        promtool_cpu = 0.0
        window = 7_200_000
        first = min(int(s.timestamps[0]) for s in segments) // window * window
        imported = 0
        for mint in range(first, end_ms + 1, window):
            text = root / "samples.om"
            count = openmetrics(families, segments, text, mint, mint + window)
            if count:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                subprocess.run(
                    ["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(text),
                     str(prom_dir)],
                    check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                promtool_cpu += (after.ru_utime - before.ru_utime) + (
                    after.ru_stime - before.ru_stime
                )
                imported += count
            text.unlink()
        assert imported == total, (imported, total)
        results["prometheus"]["bytes/sample, blocks"] = tree_size(prom_dir) / total
        results["prometheus"]["bytes/sample, chunk files only"] = chunk_size(prom_dir) / total
        notes.append(
            f"promtool openmetrics import (text parsing included): "
            f"{promtool_cpu / total * 1e6:.2f} s CPU / 1M samples"
        )
        log(f"promtool done ({json.dumps(results['prometheus'])}); selecting from Prometheus")
        server = Prometheus(prom_dir)
        try:
            seconds, prom_series, prom_points = prometheus_select(server, args.hours, end_ms)
            results["prometheus"]["select one metric, s"] = seconds
        finally:
            server.stop()
        notes.append(
            f"select {SELECTED_METRIC}: vigie {vigie_series} series / {vigie_points} samples, "
            f"Prometheus {prom_series} series / {prom_points} samples"
        )
        shutil.rmtree(prom_dir)
        del segments
        # Prometheus, part 2: remote-write ingest of --memory-targets for --memory-hours.
        log("remote-write ingest into Prometheus (memory and ingest CPU)")
        memory_steps = int(args.memory_hours * 3_600_000 // STEP_MS)
        _, memory_segments = workload(args.memory_targets, args.memory_hours)
        receiver = Prometheus(root / "prometheus-rw", remote_write=True)
        try:
            time.sleep(2)
            rss_before, _ = rss_kib(receiver.process.pid)
            prom_cpu, pushed = remote_write_ingest(receiver, memory_segments, memory_steps)
            time.sleep(1)
            rss_after, prom_peak = rss_kib(receiver.process.pid)
            head_series = receiver.metric("prometheus_tsdb_head_series")
        finally:
            receiver.stop()
        results["prometheus"]["ingest CPU s / 1M samples"] = prom_cpu / pushed * 1e6
        results["prometheus"]["ingest samples/s (CPU)"] = pushed / prom_cpu
        results["prometheus"]["memory per active series, KiB"] = (
            rss_after - rss_before
        ) / head_series
        results["prometheus"]["peak memory per active series, KiB"] = (
            prom_peak - rss_before
        ) / head_series
    log("vigie memory (child process)")
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", "--memory-targets", str(args.memory_targets),
         "--memory-hours", str(args.memory_hours)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    memory = json.loads(child.stdout)
    results["vigie"]["memory per active series, KiB"] = memory["rss_delta_kib"] / memory["series"]
    results["vigie"]["peak memory per active series, KiB"] = memory["peak_kib"] / memory["series"]
    notes.append(
        f"memory: {memory['series']} vigie head series vs {head_series:.0f} Prometheus head "
        f"series after {args.memory_hours} h of samples (RSS growth; peak = VmHWM growth)"
    )
    notes.append(f"whole run: {time.perf_counter() - started_at:.0f} s wall")
    print()
    print(f"{'':36} {'vigie':>12} {'Prometheus':>12} {'vigie/Prom':>11}")
    for key in results["vigie"]:
        ours = results["vigie"][key]
        theirs = results["prometheus"].get(key, float("nan"))
        print(f"{key:36} {ours:12.3f} {theirs:12.3f} {ours / theirs:11.2f}")
    for note in notes:
        print(f"  note: {note}")


if __name__ == "__main__":
    main()
