"""Time for the UI's overview to show all its panels, against the previous UI (git HEAD).

One command::

    .venv/bin/python benchmarks/bench_ui.py            # --rounds 5 by default; --quick: 1

Two `vigie server` processes run side by side with the same synthetic hour of AI-service and
infrastructure series (tests/web/synthetic.py, sent by remote write): this tree, and the tree of
``git HEAD`` (extracted with ``git archive`` into a temporary directory and put first on
``PYTHONPATH``; ``--baseline DIR`` names another source tree). Debian's Chromium, driven by
Playwright, opens each one's overview in rounds, in a shuffled order per round, so a noisy
neighbour hurts both alike. Each round opens a fresh browser context and loads the page three
times:

- ``cold``: first visit (plotly.js downloaded and compiled);
- ``warm``: again at once (browser cache warm; this tree's server answers from its 10 s cache);
- ``warm, server miss``: again once the window's end has moved on (no server cache hit).

It prints, per load kind, the medians of the time to the first panel with data and to the last
panel drawn (the page's ``vigie:overview-first-data`` and ``vigie:overview-data`` marks), and the
ratio this tree / HEAD; then the CPU each load cost: the page's main-thread busy time (Chromium's
``TaskDuration``) and the server process's user + system time (``/proc/<pid>/stat``), which a
busy machine disturbs far less than wall time. Issue 11's goal: the overview shows data in
under one second on localhost. The machine's load average is printed beside: on a shared machine
wall time mostly measures the neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from web import synthetic  # noqa: E402  (the UI tests' data, after the path insert)

MARKS = (
    "() => ({first: performance.getEntriesByName('vigie:overview-first-data')[0].startTime,"
    " all: performance.getEntriesByName('vigie:overview-data')[0].startTime})"
)
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(source: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(source / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "vigie.cli.main", "server", "--data-dir", str(data_dir),
         "--listen", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/-/ready").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        process.kill()
        raise SystemExit(f"vigie from {source} did not become ready")
    now_ms = int(time.time() * 1000)
    series = synthetic.ai_series(now_ms) + synthetic.host_series(now_ms)
    series += synthetic.postgres_series(now_ms) + synthetic.pool_series(now_ms)
    synthetic.remote_write(url, series)
    return process, url


def _cpu_ms(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, in milliseconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _load(page: Any, cdp: Any, url: str, server_pid: int) -> dict[str, float]:
    before = _cpu_ms(server_pid)
    page.goto(url + "/ui/?range=1h&refresh=off")
    page.wait_for_selector("html[data-ready='1']", state="attached", timeout=60_000)
    marks: dict[str, float] = page.evaluate(MARKS)
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    # The page's main-thread busy time (script, style, layout, paint): robust to a busy machine.
    marks["browser_cpu"] = metrics["TaskDuration"] * 1000
    marks["server_cpu"] = _cpu_ms(server_pid) - before
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one round, to check the script")
    parser.add_argument("--baseline", type=Path, help="source tree to compare with (default HEAD)")
    options = parser.parse_args()
    rounds = 1 if options.quick else options.rounds
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        base = options.baseline
        if base is None:
            base = Path(tmp) / "head"
            base.mkdir()
            archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD", "src"],
                                     check=True, capture_output=True).stdout  # fmt: skip
            subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        variants = {"this tree": REPO, "HEAD": base}
        servers = {name: _start(src, Path(tmp) / f"data-{i}")
                   for i, (name, src) in enumerate(variants.items())}  # fmt: skip
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                for _ in range(rounds):
                    order = list(servers)
                    random.shuffle(order)
                    for name in order:
                        url = servers[name][1]
                        context = browser.new_context(viewport={"width": 1400, "height": 1000})
                        page = context.new_page()
                        cdp = context.new_cdp_session(page)
                        cdp.send("Performance.enable")
                        pid = servers[name][0].pid
                        for kind in ("cold", "warm", "warm, server miss"):
                            if kind == "warm, server miss":
                                time.sleep(5.5 - time.time() % 5)  # the window's end moves on
                            marks = _load(page, cdp, url, pid)
                            results.setdefault((name, kind), []).append(marks)
                        context.close()
                browser.close()
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=30)
    load = os.getloadavg()[0]
    print(f"overview, {rounds} round(s), load average {load:.1f} on {os.cpu_count()} CPUs; "
          "medians in ms (first panel with data / all panels drawn)")  # fmt: skip
    summary: dict[str, dict[str, list[float]]] = {}
    keys = ("first", "all", "browser_cpu", "server_cpu")
    for kind in ("cold", "warm", "warm, server miss"):
        row = {
            name: [statistics.median(r[key] for r in results[(name, kind)]) for key in keys]
            for name in variants
        }
        mine, head = row["this tree"], row["HEAD"]
        print(f"  {kind:18s} this tree {mine[0]:5.0f} / {mine[1]:5.0f}   HEAD {head[0]:5.0f} / "
              f"{head[1]:5.0f}   all-panels ratio {mine[1] / head[1]:.2f}")  # fmt: skip
        print(f"  {'':18s} CPU ms: browser main thread {mine[2]:5.0f} vs {head[2]:5.0f} "
              f"(ratio {mine[2] / head[2]:.2f}), server {mine[3]:4.0f} vs {head[3]:4.0f} "
              f"(ratio {mine[3] / max(head[3], 1):.2f})")  # fmt: skip
        summary[kind] = row
    rounded = {k: {n: [round(x) for x in v] for n, v in r.items()} for k, r in summary.items()}
    print(json.dumps(rounded))


if __name__ == "__main__":
    main()
