"""Scrape-to-disk ingest speed: vigie's parser and scrape loop, against prometheus-client's parser.

One command: ``.venv/bin/python benchmarks/bench_scrape.py [--series 100000] [--scrapes 5]``.

It serves a realistic exposition (counters with route/method/status labels, histograms) from a real
local HTTP server, then measures, on one core and in the same run:

* parse only: vigie's :class:`ExpositionParser` (warm series cache, as on every scrape after the
  first) against ``prometheus_client.parser.text_string_to_metric_families`` (the named peer);
* end to end: :class:`ScrapeLoop` fetching over HTTP, parsing and committing to a real
  :class:`DiskStorage` (WAL fsync'd on commit), in samples per CPU second (goal: >= 200,000),
  against the real Debian ``prometheus`` scraping the same target every 2 s (its CPU time read
  from ``/proc``, its samples from ``prometheus_tsdb_head_samples_appended_total``).

The exposition is served by a separate process so that serving it is not counted as scraping.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from vigie.server.config_model import ScrapeConfig
from vigie.server.exposition import ExpositionParser
from vigie.server.metrics import ServerMetrics
from vigie.server.scrape import ScrapeLoop
from vigie.server.targets import Target, make_target
from vigie.store.tsdb import DiskStorage


def exposition(series: int) -> bytes:
    """About ``series`` samples: 70% counters, 30% histogram buckets."""
    lines = []
    routes = [f"/api/v1/items/{i}" for i in range(50)]
    count = 0
    metric = 0
    while count < series:
        name = f"app_requests_{metric}_total"
        lines += [f"# HELP {name} Requests.", f"# TYPE {name} counter"]
        for route in routes:
            for status in ("200", "404", "500"):
                lines.append(f'{name}{{route="{route}",method="GET",status="{status}"}} {count}.0')
                count += 1
        hist = f"app_latency_{metric}_seconds"
        lines += [f"# HELP {hist} Latency.", f"# TYPE {hist} histogram"]
        for route in routes[:10]:
            for le in ("0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"):
                lines.append(f'{hist}_bucket{{route="{route}",le="{le}"}} {count}')
                count += 1
            lines.append(f'{hist}_sum{{route="{route}"}} 12.5')
            lines.append(f'{hist}_count{{route="{route}"}} {count}')
            count += 2
        metric += 1
    return ("\n".join(lines) + "\n").encode()


def serve(body: bytes, directory: str) -> tuple[subprocess.Popen[bytes], str]:
    """Serve the exposition from another process, so its CPU is not counted as the scraper's."""
    Path(directory, "metrics").write_bytes(body)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", directory],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/metrics").raise_for_status()
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return process, f"127.0.0.1:{port}"


def prometheus_rate(address: str, seconds: float) -> float | None:
    """Samples per CPU second of the real Prometheus scraping the same target every 2 s."""
    binary = shutil.which("prometheus")
    if binary is None:
        print("prometheus not found (Debian package prometheus): peer not measured")
        return None
    with tempfile.TemporaryDirectory() as directory:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = Path(directory, "prometheus.yml")
        config.write_text(
            # 2 s: on a loaded machine a 1 s timeout fails every scrape of a large target
            "global: {scrape_interval: 2s, scrape_timeout: 2s}\n"
            f"scrape_configs: [{{job_name: bench, static_configs: [{{targets: ['{address}']}}]}}]\n"
        )
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={directory}/data",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(4)  # start-up and first scrape (series creation) are not steady state
            cpu0, samples0 = _cpu_seconds(process.pid), _appended(port)
            time.sleep(seconds)
            cpu1, samples1 = _cpu_seconds(process.pid), _appended(port)
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"  prometheus: {samples1 - samples0:,.0f} samples in {cpu1 - cpu0:.2f} CPU seconds")
    if samples1 == samples0:
        print("  prometheus stored nothing (its scrapes timed out): peer not measured")
        return None
    return (samples1 - samples0) / (cpu1 - cpu0)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _appended(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("prometheus_tsdb_head_samples_appended_total")
    )


def parse_speed(body: bytes, scrapes: int) -> tuple[float, float, int]:
    parser = ExpositionParser()
    samples = len(parser.parse(body, "text/plain").samples)  # warm the series cache
    start = time.process_time()
    for _ in range(scrapes):
        parser.parse(body, "text/plain")
    ours = samples * scrapes / (time.process_time() - start)
    text = body.decode()
    start = time.process_time()
    peer_samples = sum(len(family.samples) for family in text_string_to_metric_families(text))
    peer = peer_samples / (time.process_time() - start)
    return ours, peer, samples


async def end_to_end(address: str, scrapes: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as directory:
        storage = DiskStorage(directory)
        job = ScrapeConfig("bench", 15_000, 10_000)
        target = make_target(job, address, (), "static")
        assert isinstance(target, Target)
        async with httpx.AsyncClient() as client:
            loop = ScrapeLoop(target, storage, client, ServerMetrics())
            clock = [time.time()]
            loop.clock = lambda: clock[0]
            await loop.scrape_once()  # first scrape: series creation, not steady state
            assert loop.health == "up", loop.last_error
            start_wall = time.perf_counter()
            start_cpu = time.process_time()
            for _ in range(scrapes):
                clock[0] += 15
                await loop.scrape_once()
            wall = time.perf_counter() - start_wall
            cpu = time.process_time() - start_cpu
        storage.close()
    samples = loop.last_samples * scrapes
    print(f"  vigie: {samples:,} samples in {cpu:.2f} CPU seconds, {wall:.2f} s wall")
    return samples / wall, samples / cpu


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--series", type=int, default=100_000)
    arguments.add_argument("--scrapes", type=int, default=5)
    arguments.add_argument("--prometheus-seconds", type=float, default=10.0)
    options = arguments.parse_args()
    body = exposition(options.series)
    ours, peer, samples = parse_speed(body, options.scrapes)
    print(f"exposition: {samples} samples, {len(body) / 1e6:.1f} MB")
    print(f"parse  vigie ExpositionParser (warm)       {ours:12,.0f} samples/s")
    print(f"parse  prometheus_client text parser       {peer:12,.0f} samples/s")
    print(f"parse  ratio vigie / prometheus_client     {ours / peer:12.1f}x")
    with tempfile.TemporaryDirectory() as directory:
        server, address = serve(body, directory)
        try:
            wall_rate, cpu_rate = asyncio.run(end_to_end(address, options.scrapes))
            peer_rate = prometheus_rate(address, options.prometheus_seconds)
        finally:
            server.terminate()
            server.wait()
    verdict = "met" if cpu_rate >= 200_000 else "NOT met"
    print(f"scrape-to-disk vigie (HTTP + parse + DiskStorage)  {cpu_rate:12,.0f} samples/CPU-s "
          f"(goal 200,000 on one core: {verdict})")  # fmt: skip
    print(f"scrape-to-disk vigie wall clock                    {wall_rate:12,.0f} samples/s "
          "(includes fsync waits and other processes on the machine)")  # fmt: skip
    if peer_rate is not None:
        print(
            f"scrape-to-disk prometheus (Debian)                 {peer_rate:12,.0f} samples/CPU-s"
        )
        print(f"scrape-to-disk ratio vigie / prometheus            {cpu_rate / peer_rate:12.2f}x")


if __name__ == "__main__":
    main()
