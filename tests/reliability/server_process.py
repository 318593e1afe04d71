"""Helpers of the reliability tests: a real `vigie server` process and wire-format payloads."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cramjam
import httpx

from support import free_port
from vigie.server.remote_write import WriteRequest


class ServerProcess:
    """`vigie server` on loopback with a data directory that outlives restarts."""

    def __init__(self, config: Path, data: Path, *, port: int | None = None) -> None:
        self.config = config
        self.data = data
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigie.cli.main", "server", "--config", str(self.config),
             "--data-dir", str(self.data), "--listen", f"127.0.0.1:{self.port}",
             "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.process.communicate()[0]}")
            try:
                if httpx.get(self.url + "/-/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError("server not ready in time")

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=30)
        self.process = None

    def stop(self) -> str:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        output = self.process.communicate(timeout=60)[0]
        code = self.process.returncode
        self.process = None
        assert code == 0, output
        return output


def remote_write_body(series: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> bytes:
    """A snappy-compressed Prometheus remote-write 1.0 ``WriteRequest``."""
    request = WriteRequest()
    for labels, samples in series:
        item = request.timeseries.add()
        for name, value in sorted(labels.items()):
            label = item.labels.add()
            label.name, label.value = name, value
        for timestamp, value in samples:
            sample = item.samples.add()
            sample.timestamp, sample.value = timestamp, value
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


REMOTE_WRITE_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def otlp_traces(trace_id: str, span_ids: list[str], now_ns: int) -> bytes:
    spans = [
        {"traceId": trace_id, "spanId": span_id, "name": "work", "kind": 2,
         "startTimeUnixNano": str(now_ns), "endTimeUnixNano": str(now_ns + 1_000_000)}
        for span_id in span_ids
    ]  # fmt: skip
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "kill-test"}}]}
    return json.dumps(
        {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    ).encode()


def otlp_logs(bodies: list[str], now_ns: int) -> bytes:
    records = [
        {"timeUnixNano": str(now_ns), "severityNumber": 9, "body": {"stringValue": body}}
        for body in bodies
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "kill-test"}}]}
    return json.dumps(
        {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}
    ).encode()
