"""Per-request overhead of vigie's ASGI middleware against the Python peers, and uvicorn throughput.

One command::

    .venv/bin/python benchmarks/bench_http_middleware.py

Part 1 drives the same FastAPI app in-process (no network: ASGI messages straight into the app)
bare and under each instrumentation: vigie, prometheus-fastapi-instrumentator, starlette-exporter
and opentelemetry-instrumentation-fastapi with its Prometheus reader. Rounds are interleaved (each
round runs every variant once, in a shuffled order) and the medians of the rounds are compared, so
a noisy neighbour hurts every variant alike. It prints the added microseconds per request and the
ratio of vigie's overhead to the lightest peer's (goal: at most 0.4).

Part 2 serves the bare app with real uvicorn on loopback, bare, with vigie as installed by
default (the five metrics and ``/metrics``; request ids follow vigie's logging, off here) and with
request ids on as well (``request_id=True``: what an app that called ``vigie.configure()`` for
logs runs). Each instrumented server runs beside a bare one, both pinned to one shared CPU, and
in each round both are saturated at the same time, each by its own load generator (``wrk`` when
installed, else this script's asyncio clients) pinned to the other CPUs. The scheduler shares
the CPU evenly, so a server's requests per second is its capacity on its share, and whatever
disturbs the machine during a round (a neighbour, a frequency change) disturbs both alike: the
per-round ratio to the bare server is the throughput ratio, and the script prints the median
drop over the rounds (goal: under 5%), the middle half of the rounds, and the same drop computed
from each server's CPU time per request (``/proc/<pid>/task/*/schedstat``, nanoseconds).
Running the variants one after the other instead mixes their differences with the machine's own
swings, which on a shared virtual machine are larger than the few percent measured.

Per-request times in part 1 are CPU time of this process (``time.process_time``), not wall time:
on a machine shared with other work, wall time mostly measures the neighbours.
``--instructions`` adds a third figure that does not depend on the machine's load: each server
runs under valgrind (cachegrind) and the instructions it executes per request are counted
(difference of a 1,000- and a 200-request run, so start-up cancels out), and the throughput
drop is one minus the ratio bare / instrumented. It takes a few minutes and needs ``valgrind``.
``--quick`` shortens both parts to check that the script runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def build_app() -> Any:
    """The app every variant serves: one templated JSON route, as most API endpoints are."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


def bare() -> App:
    return build_app()  # type: ignore[no-any-return]


def vigie_app() -> App:
    from vigie.integrations.fastapi import instrument_fastapi

    return instrument_fastapi(build_app(), registry=CollectorRegistry())  # type: ignore[no-any-return]


def instrumentator_app() -> App:
    from prometheus_fastapi_instrumentator import Instrumentator

    app = build_app()
    Instrumentator(registry=CollectorRegistry()).instrument(app)
    return app  # type: ignore[no-any-return]


def starlette_exporter_app() -> App:
    from starlette_exporter import PrometheusMiddleware

    app = build_app()
    app.add_middleware(PrometheusMiddleware, group_paths=True)
    return app  # type: ignore[no-any-return]


def opentelemetry_app() -> App:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    app = build_app()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    FastAPIInstrumentor.instrument_app(
        app, meter_provider=provider, tracer_provider=TracerProvider()
    )
    return app  # type: ignore[no-any-return]


VARIANTS: dict[str, Callable[[], App]] = {
    "bare": bare,
    "vigie": vigie_app,
    "prometheus-fastapi-instrumentator": instrumentator_app,
    "starlette-exporter": starlette_exporter_app,
    "opentelemetry-instrumentation-fastapi": opentelemetry_app,
}
PEERS = (
    "prometheus-fastapi-instrumentator",
    "starlette-exporter",
    "opentelemetry-instrumentation-fastapi",
)


async def _drive(app: App, requests: int) -> float:
    """Seconds per request for ``requests`` GETs sent straight into ``app``."""
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "root_path": "",
        "query_string": b"",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }
    headers = [(b"host", b"bench"), (b"user-agent", b"bench/1"), (b"accept", b"*/*")]
    request_message = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request_message

    async def send(message: dict[str, Any]) -> None:
        return None

    paths = [f"/items/{i}" for i in range(64)]
    started = time.process_time()
    for index in range(requests):
        path = paths[index & 63]
        scope = dict(scope_base, path=path, raw_path=path.encode(), headers=list(headers))
        await app(scope, receive, send)
    return (time.process_time() - started) / requests


async def _lifespan_started(app: App) -> None:
    """Build each app's middleware stack once, outside the timed part."""
    await _drive(app, 200)


def in_process(rounds: int, requests: int) -> dict[str, float]:
    """Median seconds per request of each variant, over interleaved rounds."""
    apps = {name: factory() for name, factory in VARIANTS.items()}
    loop = asyncio.new_event_loop()
    try:
        for app in apps.values():
            loop.run_until_complete(_lifespan_started(app))
        samples: dict[str, list[float]] = {name: [] for name in apps}
        order = list(apps)
        for _ in range(rounds):
            random.shuffle(order)
            for name in order:
                samples[name].append(loop.run_until_complete(_drive(apps[name], requests)))
    finally:
        loop.close()
    return {name: statistics.median(values) for name, values in samples.items()}


_SERVER = """
import sys, uvicorn
sys.path.insert(0, {bench_dir!r})
from bench_http_middleware import SERVED
uvicorn.run(SERVED[{variant!r}](), host="127.0.0.1", port={port}, log_level="error",
            access_log=False, lifespan="off")
"""


def vigie_with_request_ids_app() -> App:
    from vigie.integrations.fastapi import instrument_fastapi

    app = build_app()
    return instrument_fastapi(app, registry=CollectorRegistry(), request_id=True)  # type: ignore[no-any-return]


#: What part 2 serves under uvicorn: bare, vigie as installed by default (the five metrics,
#: /metrics), and vigie with request ids as well (as after ``vigie.configure()`` with logs).
SERVED: dict[str, Callable[[], App]] = {
    "bare": bare,
    "vigie": vigie_app,
    "vigie + request ids": vigie_with_request_ids_app,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _client(port: int, deadline: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /items/7 HTTP/1.1\r\nHost: bench\r\n\r\n"
    done = 0
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            done += 1
    finally:
        writer.close()
    return done


def _load(port: int, seconds: float, clients: int) -> int:
    """Requests answered to ``clients`` keep-alive clients in ``seconds`` (when wrk is missing)."""

    async def run() -> int:
        deadline = time.perf_counter() + seconds
        counts = await asyncio.gather(*(_client(port, deadline) for _ in range(clients)))
        return sum(counts)

    return asyncio.run(run())


def _cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid``, all threads: nanoseconds from ``/proc/<pid>/task/*/schedstat``.

    ``/proc/<pid>/stat`` counts in clock ticks (10 ms), too coarse for short rounds; schedstat's
    first field is the exact run time of each thread.
    """
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that just ended
            continue
    if total:
        return total / 1e9
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Server:
    """One uvicorn process serving a variant, for the whole of part 2."""

    def __init__(self, variant: str) -> None:
        self.variant = variant
        self.port = _free_port()
        code = _SERVER.format(bench_dir=str(Path(__file__).parent), variant=variant, port=self.port)
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
        self.process = subprocess.Popen([sys.executable, "-c", code], env=env)
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError(f"uvicorn did not start for {variant}")

    def pin(self, cpus: set[int]) -> None:
        """Run every thread of the server on ``cpus``."""
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), cpus)
            except OSError:  # a thread that just ended
                continue

    def load(self, seconds: float, clients: int, cpus: set[int]) -> subprocess.Popen[str]:
        """Start a load generator on ``cpus``: wrk when installed, else this script's client."""
        if shutil.which("wrk"):
            command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s"]
            command.append(f"http://127.0.0.1:{self.port}/items/7")
        else:
            command = [sys.executable, __file__, "--load", str(self.port), str(seconds)]
            command += ["--clients", str(clients)]
        return subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: os.sched_setaffinity(0, cpus),
        )

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _answered(output: str) -> int:
    """Requests a load generator reports: wrk's "N requests in", or the client's number."""
    found = re.search(r"(\d+) requests in", output)
    return int(found.group(1) if found else output.strip().splitlines()[-1])


def _cpu_split() -> tuple[set[int], set[int]]:
    """(the one CPU the servers share, the CPUs of the load generators)."""
    cpus = sorted(os.sched_getaffinity(0))
    servers = {cpus[-1]}
    return servers, set(cpus[:-1]) or servers


def _side_by_side(
    names: list[str], rounds: int, seconds: float, clients: int
) -> dict[str, dict[str, list[float]]]:
    """Per round and server: CPU µs per request and requests per second, all run at once.

    The servers share one CPU, each saturated by its own load generator on the other CPUs, so a
    neighbour's burst or a frequency change hits them alike, within the same seconds. The
    scheduler shares the CPU evenly, so a server's requests per second is its capacity on that
    share, and the ratio of two servers' is their throughput ratio.
    """
    servers = {name: _Server(name) for name in names}
    server_cpus, client_cpus = _cpu_split()
    try:
        for server in servers.values():
            server.pin(server_cpus)

        def one_round(length: float) -> dict[str, tuple[float, float]]:
            before = {name: _cpu_seconds(s.process.pid) for name, s in servers.items()}
            loads = {name: s.load(length, clients, client_cpus) for name, s in servers.items()}
            answered = {name: _answered(load.communicate()[0]) for name, load in loads.items()}
            return {
                name: (
                    (_cpu_seconds(s.process.pid) - before[name]) / max(answered[name], 1) * 1e6,
                    answered[name] / length,
                )
                for name, s in servers.items()
            }

        one_round(min(1.0, seconds))  # warm-up, discarded
        figures: dict[str, dict[str, list[float]]] = {
            name: {"cpu_us": [], "rps": []} for name in servers
        }
        for _ in range(rounds):
            for name, (cpu_us, rps) in one_round(seconds).items():
                figures[name]["cpu_us"].append(cpu_us)
                figures[name]["rps"].append(rps)
        return figures
    finally:
        for server in servers.values():
            server.close()


def under_uvicorn(
    rounds: int, seconds: float, clients: int
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """For each instrumented variant, its rounds against a bare server run beside it.

    One pair at a time: two servers sharing a CPU switch between each other less than three
    would, and each pair is a direct comparison.
    """
    return {
        name: _side_by_side(["bare", name], rounds, seconds, clients)
        for name in SERVED
        if name != "bare"
    }


_COUNTED_SERVER = """
import sys, uvicorn
sys.path.insert(0, {bench_dir!r})
from bench_http_middleware import SERVED
app, served = SERVED[{variant!r}](), [0]
async def counted(scope, receive, send):
    await app(scope, receive, send)
    served[0] += 1
    if served[0] >= {requests}:
        server.should_exit = True
server = uvicorn.Server(uvicorn.Config(counted, host="127.0.0.1", port={port},
                        log_level="error", access_log=False, lifespan="off"))
server.run()
"""


def _instructions(variant: str, requests: int, clients: int) -> int:
    """Machine instructions a uvicorn server runs, from start to exit after ``requests``."""
    port = _free_port()
    code = _COUNTED_SERVER.format(
        bench_dir=str(Path(__file__).parent), variant=variant, port=port, requests=requests
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"), PYTHONHASHSEED="0")
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no"]
    command += ["--cachegrind-out-file=/dev/null", sys.executable, "-c", code]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    for _ in range(6000):  # startup under valgrind takes tens of seconds
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)

    async def run(quota: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(quota):
            writer.write(b"GET /items/7 HTTP/1.1\r\nHost: bench\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
        writer.close()

    async def all_clients() -> None:
        await asyncio.gather(*(run(requests // clients) for _ in range(clients)))

    asyncio.run(all_clients())
    _, errors = server.communicate(timeout=600)
    for line in errors.splitlines():
        if "I   refs:" in line or "I refs:" in line:
            return int(line.rsplit(":", 1)[1].replace(",", "").strip())
    raise RuntimeError(f"no instruction count from valgrind for {variant}: {errors[-500:]}")


def instructions_per_request(few: int = 200, many: int = 1000) -> dict[str, float]:
    """Instructions per request of each served variant, start-up cancelled out by a difference.

    Counted by valgrind (cachegrind), so the figure is the same on a busy and a quiet machine:
    it leaves out cache and frequency effects, which a quiet machine's wall clock includes.
    """
    clients = 8
    return {
        name: (_instructions(name, many, clients) - _instructions(name, few, clients))
        / (many - few)
        for name in SERVED
    }


def _quartiles(ordered: list[float]) -> tuple[float, float]:
    """First and third quartiles of sorted values (the values themselves when too few)."""
    if len(ordered) < 4:
        return ordered[0], ordered[-1]
    first, _, third = statistics.quantiles(ordered, n=4)
    return first, third


def _uvicorn_flavour() -> str:
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http} + {loop}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of a uvicorn round")
    parser.add_argument("--throughput-rounds", type=int, default=30, help="uvicorn rounds")
    parser.add_argument("--clients", type=int, default=8, help="keep-alive clients per server")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the uvicorn servers' instructions per request under valgrind (minutes)",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--load", nargs=2, metavar=("PORT", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:  # a load generator of part 2, when wrk is not installed
        print(_load(int(args.load[0]), float(args.load[1]), args.clients))
        return 0
    if args.quick:
        args.rounds, args.requests = 3, 200
        args.throughput_rounds, args.seconds = 2, 1.0

    medians = in_process(args.rounds, args.requests)
    base = medians["bare"]
    print(f"in-process, {args.rounds} interleaved rounds x {args.requests} requests, medians")
    print(f"  {'bare FastAPI':40s} {base * 1e6:8.1f} µs/request")
    overheads = {name: (medians[name] - base) * 1e6 for name in medians if name != "bare"}
    for name, added in overheads.items():
        print(f"  {name:40s} {added:+8.1f} µs/request added")
    lightest = min(PEERS, key=lambda name: overheads[name])
    ratio = overheads["vigie"] / overheads[lightest]
    print(f"  vigie / lightest peer ({lightest}): {ratio:.2f} (goal <= 0.40)")

    pairs = under_uvicorn(args.throughput_rounds, args.seconds, args.clients)
    server_cpus, client_cpus = _cpu_split()
    generator = "wrk" if shutil.which("wrk") else "Python asyncio clients"
    print(
        f"uvicorn ({_uvicorn_flavour()}) on loopback: each instrumented server beside a bare one, "
        f"both on CPU {min(server_cpus)}, each driven by {generator} ({args.clients} keep-alive "
        f"connections) on CPU {','.join(map(str, sorted(client_cpus)))}; "
        f"{args.throughput_rounds} rounds of {args.seconds:g} s, medians of per-round ratios"
    )
    for name, figures in pairs.items():
        bare_cpu, bare_rps = figures["bare"]["cpu_us"], figures["bare"]["rps"]
        cpu, rps = figures[name]["cpu_us"], figures[name]["rps"]
        rps_ratios = sorted(v / b for b, v in zip(bare_rps, rps, strict=True))
        cpu_ratio = statistics.median(b / v for b, v in zip(bare_cpu, cpu, strict=True))
        low, high = _quartiles(rps_ratios)
        print(
            f"  {name:22s} {statistics.median(rps):6.0f} req/s beside bare's "
            f"{statistics.median(bare_rps):6.0f} (CPU {statistics.median(cpu):6.1f} µs/request "
            f"beside {statistics.median(bare_cpu):6.1f}): throughput drop "
            f"{(1 - statistics.median(rps_ratios)) * 100:4.1f}% (middle half of the rounds "
            f"{(1 - high) * 100:.1f} to {(1 - low) * 100:.1f}%; from CPU/request "
            f"{(1 - cpu_ratio) * 100:.1f}%) (goal < 5%)"
        )
    if args.instructions:
        counted = instructions_per_request()
        print("uvicorn under valgrind (cachegrind), instructions per request (deterministic)")
        for name, count in counted.items():
            drop = 1 - counted["bare"] / count  # capacity is the inverse of work per request
            note = "" if name == "bare" else f", throughput drop {drop * 100:.1f}% (goal < 5%)"
            print(f"  {name:24s} {count:10,.0f}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
