"""Load test: a real `vigie server` under scrape, OTLP and dashboard load, beside Prometheus 2.42.

Workload (defaults are the issue's, except the duration): ``--targets`` exporters (200) of
``--series`` series each (1,000) scraped every ``--interval`` s (15), ``--spans`` spans/s (1,000)
and ``--logs`` log lines/s (200) sent by OTLP/HTTP JSON, and ``--users`` dashboard users (20) each
running a range query (``sum by (target) (rate(load_requests_total[1m]))`` over the last 5 min)
then a ``topk`` instant query, one second apart. Everything on loopback. The exporters run in a
child process (asyncio, one port per target; values change at each scrape).

Measured for vigie: missed scrapes (expected scrapes per target from the run time minus the
successful ones counted by ``vigie_scrapes_total``), failed scrapes, dropped spans and log lines
(any non-200 OTLP answer), query latency p50/p99, the server's peak resident memory. Then the same
targets and dashboard queries against Prometheus 2.42 (``/usr/bin/prometheus``, no OTLP: it has no
traces) for the ratios vigie / Prometheus.

Run::

    .venv/bin/python benchmarks/bench_load.py                          # 200 x 1,000, 3 minutes each
    .venv/bin/python benchmarks/bench_load.py --duration 1800          # the issue's 30 minutes
    .venv/bin/python benchmarks/bench_load.py --targets 20 --duration 60 --no-peer   # quick
    .venv/bin/python benchmarks/bench_load.py --max-concurrency 2   # vigie.query.max_concurrency
    .venv/bin/python benchmarks/bench_load.py --in-process --targets 20 --rounds 40 [--trace]

``--in-process`` measures where memory and query time go without HTTP: the exporters' bodies are
fed straight to real scrape loops (``ScrapeLoop._store``) over a real ``DiskStorage``, ``--rounds``
scrapes per target (15 s apart, ending now), then each dashboard query runs alone. It prints the
resident memory per series, with ``--trace`` the top allocation sites (tracemalloc), and each
query's latency and, with ``--trace``, its transient allocation peak.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


EXPORTER = r"""
import asyncio, sys
ports = [int(p) for p in sys.argv[2].split(",")]
series = int(sys.argv[1])
counter = [0]
def body(target):
    counter[0] += 1
    n = counter[0]
    lines = ["# TYPE load_requests_total counter"]
    lines += [f'load_requests_total{{target="{target}",route="/r{i % 50}",'
              f'code="{200 + i % 5}",shard="{i}"}} {n * (i + 1)}' for i in range(series - 1)]
    lines.append("# TYPE load_up gauge")
    lines.append("load_up 1")
    return ("\n".join(lines) + "\n").encode()
async def main():
    async def serve(target, reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            data = body(target)
            head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                    b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(data))
            writer.write(head + data)
            await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()
    for index, port in enumerate(ports):
        await asyncio.start_server(lambda r, w, t=index: serve(t, r, w), "127.0.0.1", port)
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


@dataclass
class Measures:
    latencies: list[float] = field(default_factory=list)
    query_errors: int = 0
    spans_sent: int = 0
    spans_dropped: int = 0
    logs_sent: int = 0
    logs_dropped: int = 0
    peak_rss: int = 0


def rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def wait_ready(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} not ready")


def dashboard_user(url: str, stop: threading.Event, measures: Measures, seed: int) -> None:
    rng = random.Random(seed)
    client = httpx.Client(timeout=60)
    time.sleep(rng.uniform(0, 1))
    while not stop.is_set():
        now = time.time()
        for path, params in (
            ("/api/v1/query_range", {"query": "sum by (target) (rate(load_requests_total[1m]))",
                                     "start": str(now - 300), "end": str(now), "step": "15"}),
            ("/api/v1/query", {"query": "topk(5, sum by (route) (load_requests_total))",
                               "time": str(now)}),
        ):  # fmt: skip
            start = time.perf_counter()
            try:
                response = client.get(url + path, params=params)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            measures.latencies.append(time.perf_counter() - start)
            measures.query_errors += not ok
        stop.wait(1.0)
    client.close()


def otlp_sender(url: str, per_second: int, signal_name: str, stop: threading.Event,
                measures: Measures) -> None:  # fmt: skip
    """``per_second`` records a second in 10 batches."""
    client = httpx.Client(timeout=10)
    batch = max(1, per_second // 10)
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "load"}}]}
    next_at = time.monotonic()
    while not stop.is_set():
        now_ns = time.time_ns()
        if signal_name == "traces":
            trace = f"{random.getrandbits(128):032x}"
            records = [{"traceId": trace, "spanId": f"{random.getrandbits(64):016x}",
                        "name": "GET /answer", "kind": 2,
                        "startTimeUnixNano": str(now_ns - 5_000_000),
                        "endTimeUnixNano": str(now_ns)} for _ in range(batch)]  # fmt: skip
            body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": records}]}]}
        else:
            records = [{"timeUnixNano": str(now_ns), "severityNumber": 9,
                        "body": {"stringValue": f"answered question {i}"}}
                       for i in range(batch)]  # fmt: skip
            body = {
                "resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]
            }
        try:
            response = client.post(f"{url}/v1/{signal_name}", content=json.dumps(body),
                                   headers={"Content-Type": "application/json"})  # fmt: skip
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        if signal_name == "traces":
            measures.spans_sent += batch
            measures.spans_dropped += 0 if ok else batch
        else:
            measures.logs_sent += batch
            measures.logs_dropped += 0 if ok else batch
        next_at += 0.1
        stop.wait(max(0.0, next_at - time.monotonic()))
    client.close()


def successful_scrapes(url: str, vigie: bool) -> tuple[float, float]:
    if vigie:
        text = httpx.get(url + "/metrics", timeout=120).text
        success = failure = 0.0
        for line in text.splitlines():
            if line.startswith("vigie_scrapes_total{") and 'scrape_job="load"' in line:
                value = float(line.rsplit(" ", 1)[1])
                if 'result="success"' in line:
                    success += value
                else:
                    failure += value
        return success, failure
    # Prometheus: count the `up` samples of the run (one per scrape attempt).
    query = 'sum(count_over_time(up{job="load"}[1h]))'
    total = httpx.get(url + "/api/v1/query", params={"query": query}, timeout=120).json()
    query_ok = 'sum(sum_over_time(up{job="load"}[1h]))'
    ok = httpx.get(url + "/api/v1/query", params={"query": query_ok}, timeout=120).json()
    attempts = float(total["data"]["result"][0]["value"][1]) if total["data"]["result"] else 0
    good = float(ok["data"]["result"][0]["value"][1]) if ok["data"]["result"] else 0
    return good, attempts - good


def print_scrape_errors(url: str, name: str) -> None:
    """The distinct last errors of the targets (from the targets API), with their counts."""
    data = httpx.get(url + "/api/v1/targets", timeout=120).json()["data"]["activeTargets"]
    errors: dict[str, int] = {}
    for target in data:
        if target.get("lastError"):
            reason = target["lastError"].split(": ", 1)[-1][:80]
            errors[reason] = errors.get(reason, 0) + 1
    for reason, count in sorted(errors.items(), key=lambda item: -item[1]):
        print(f"{name}: {count} targets last failed with: {reason}")


def run_system(
    name: str, args: argparse.Namespace, targets: list[str], work: Path
) -> dict[str, float]:
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    data = work / f"{name}-data"
    jobs = {"job_name": "load", "scrape_interval": f"{args.interval}s",
            "scrape_timeout": f"{min(args.interval, 10)}s",
            "static_configs": [{"targets": targets}]}  # fmt: skip
    config = work / f"{name}.yml"
    if name == "vigie":
        settings: dict[str, object] = {"self_monitoring": {"enabled": False}}
        if args.max_concurrency:
            settings["query"] = {"max_concurrency": args.max_concurrency}
        text = {"scrape_configs": [jobs], "vigie": settings}
        config.write_text(json.dumps(text))
        command = [sys.executable, "-m", "vigie.cli.main", "server", "--config", str(config),
                   "--data-dir", str(data), "--listen", f"127.0.0.1:{port}",
                   "--log-level", "warning"]  # fmt: skip
    else:
        config.write_text(json.dumps({"scrape_configs": [jobs]}))
        command = ["/usr/bin/prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
                   f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    measures = Measures()
    try:
        wait_ready(url)
        stop = threading.Event()
        workers = [threading.Thread(target=dashboard_user, args=(url, stop, measures, i))
                   for i in range(args.users)]  # fmt: skip
        if name == "vigie":
            workers.append(
                threading.Thread(
                    target=otlp_sender, args=(url, args.spans, "traces", stop, measures)
                )
            )
            workers.append(
                threading.Thread(target=otlp_sender, args=(url, args.logs, "logs", stop, measures))
            )
        started = time.monotonic()
        for worker in workers:
            worker.start()
        while time.monotonic() - started < args.duration:
            measures.peak_rss = max(measures.peak_rss, rss(process.pid))
            time.sleep(1)
        elapsed = time.monotonic() - started
        stop.set()
        for worker in workers:
            worker.join(timeout=120)
        try:
            success, failure = successful_scrapes(url, name == "vigie")
            print_scrape_errors(url, name)
        except httpx.HTTPError as error:  # an overloaded server is a result, not a crash
            print(f"{name}: could not read the scrape counts: {error!r}")
            success = failure = float("nan")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
    # Every target is due once per interval, its first scrape anywhere in the first interval
    # (spread by target): at least floor(elapsed / interval) - 1 scrapes each, whatever the phase.
    expected = len(targets) * max(0, int(elapsed // args.interval) - 1)
    latencies = sorted(measures.latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan")
    return {
        "expected_scrapes": expected,
        "successful_scrapes": success,
        "failed_scrapes": failure,
        "missed_scrapes": max(0.0, expected - success) if success == success else float("nan"),
        "queries": len(latencies),
        "query_errors": measures.query_errors,
        "query_p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "query_p99_ms": p99 * 1000,
        "peak_rss_mib": measures.peak_rss / (1 << 20),
        "spans_sent": measures.spans_sent,
        "spans_dropped": measures.spans_dropped,
        "logs_sent": measures.logs_sent,
        "logs_dropped": measures.logs_dropped,
    }


def in_process(args: argparse.Namespace) -> int:
    """Scrape rounds fed to real scrape loops and store, then the dashboard queries alone."""
    import gc
    import tracemalloc

    sys.path.insert(0, str(ROOT / "src"))
    from vigie.query import Engine
    from vigie.server.config_model import ScrapeConfig
    from vigie.server.metrics import ServerMetrics
    from vigie.server.scrape import ScrapeLoop
    from vigie.server.targets import Target, make_target
    from vigie.store.tsdb import DiskStorage

    namespace: dict[str, object] = {}  # the exporters' body() (same exposition as over HTTP)
    source = EXPORTER.split("async def main")[0].replace("ports = ", "# ports = ")
    exec(source.replace("int(sys.argv[1])", str(args.series)), namespace)
    body = namespace["body"]
    assert callable(body)
    if args.trace:
        tracemalloc.start(1)
    base = rss(os.getpid())
    work = Path(tempfile.mkdtemp(prefix="vigie-load-"))
    storage = DiskStorage(work, fsync="never")
    job = ScrapeConfig("load", args.interval * 1000, 10_000)
    loops = []
    for index in range(args.targets):
        target = make_target(job, f"127.0.0.1:{10_000 + index}", (), "static")
        assert isinstance(target, Target)
        loops.append(ScrapeLoop(target, storage, None, ServerMetrics()))  # type: ignore[arg-type]
    start = time.time() - args.rounds * args.interval
    spent = 0.0
    for round_ in range(args.rounds):
        moment = start + round_ * args.interval
        for index, loop in enumerate(loops):
            loop.clock = lambda moment=moment: moment
            data = body(index)
            began = time.perf_counter()
            loop._store(data, "text/plain; version=0.0.4", int(moment * 1000), moment, None)
            spent += time.perf_counter() - began
            assert loop.health == "up", loop.last_error
    gc.collect()
    count = args.targets * args.series
    grown = rss(os.getpid()) - base
    per_scrape = spent / args.rounds / args.targets * 1000
    print(f"in-process: {count} series, {args.rounds} scrapes each, {per_scrape:.1f} ms per "
          f"scrape (parse + commit), resident +{grown / 2**20:.0f} MiB = "
          f"{grown / count / 1024:.2f} KiB per series")  # fmt: skip
    if args.trace:
        snapshot = tracemalloc.take_snapshot()
        total = sum(stat.size for stat in snapshot.statistics("filename"))
        print(f"traced {total / 2**20:.1f} MiB = {total / count / 1024:.2f} KiB per series")
        for stat in snapshot.statistics("lineno")[:15]:
            frame = stat.traceback[0]
            where = frame.filename.replace(str(ROOT / "src") + "/", "")
            print(f"  {stat.size / 2**20:7.1f} MiB {stat.count:8d}  {where}:{frame.lineno}")
    engine = Engine(storage)
    end = int((start + (args.rounds - 1) * args.interval) * 1000)
    queries = {
        "query_range": lambda: engine.range(
            "sum by (target) (rate(load_requests_total[1m]))", end - 300_000, end, 15_000
        ),
        "topk": lambda: engine.instant("topk(5, sum by (route) (load_requests_total))", end),
    }
    for name, run in queries.items():
        timings = []
        for _ in range(3):
            if args.trace:
                tracemalloc.reset_peak()
            held = tracemalloc.get_traced_memory()[0] if args.trace else 0
            began = time.perf_counter()
            run()
            timings.append(time.perf_counter() - began)
            peak = tracemalloc.get_traced_memory()[1] - held if args.trace else 0
        extra = f", transient peak {peak / 2**20:.1f} MiB" if args.trace else ""
        print(f"{name}: best of 3 {min(timings) * 1000:.0f} ms{extra}")
    storage.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=15)
    parser.add_argument("--spans", type=int, default=1000)
    parser.add_argument("--logs", type=int, default=200)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=180)
    parser.add_argument("--no-peer", action="store_true", help="skip the Prometheus run")
    parser.add_argument(
        "--max-concurrency", type=int, default=0, help="vigie.query.max_concurrency (0: default)"
    )
    parser.add_argument("--in-process", action="store_true", help="see the module docstring")
    parser.add_argument("--rounds", type=int, default=40, help="scrapes per target (in-process)")
    parser.add_argument("--trace", action="store_true", help="tracemalloc (in-process)")
    args = parser.parse_args()
    if args.in_process:
        return in_process(args)
    ports = free_ports(args.targets)
    exporter = subprocess.Popen(
        [sys.executable, "-c", EXPORTER, str(args.series), ",".join(map(str, ports))],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert exporter.stdout is not None
    assert exporter.stdout.readline().strip() == "ready"
    targets = [f"127.0.0.1:{port}" for port in ports]
    work = Path(tempfile.mkdtemp(prefix="vigie-load-"))
    results: dict[str, dict[str, float]] = {}
    try:
        print(f"load: {args.targets} targets x {args.series} series every {args.interval}s, "
              f"{args.spans} spans/s, {args.logs} log lines/s, {args.users} users, "
              f"{args.duration:.0f}s per system, {os.cpu_count()} CPUs")  # fmt: skip
        results["vigie"] = run_system("vigie", args, targets, work)
        if not args.no_peer and shutil.which("/usr/bin/prometheus"):
            results["prometheus"] = run_system("prometheus", args, targets, work)
    finally:
        exporter.kill()
        shutil.rmtree(work, ignore_errors=True)
    for name, result in results.items():
        print(f"\n{name}")
        for key, value in result.items():
            print(f"  {key:<20} {value:>12.1f}")
    if "prometheus" in results:
        vigie, peer = results["vigie"], results["prometheus"]
        print("\nratios vigie / Prometheus 2.42")
        for key in ("query_p50_ms", "query_p99_ms", "peak_rss_mib"):
            print(f"  {key:<20} {vigie[key] / peer[key]:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
