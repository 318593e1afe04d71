"""Remote write 1.0: real Prometheus pushes into vigie; bad payloads are refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any as LiveServer

import cramjam
import httpx
import pytest

from support import free_port, require_binary
from support.prometheus import running_prometheus
from vigie.exceptions import PayloadError
from vigie.server.remote_write import WriteRequest, decode
from vigie.store.interface import Matcher

HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def _request(*series: tuple[dict[str, str], list[tuple[int, float]]]) -> bytes:
    request = WriteRequest()
    for labels, samples in series:
        item = request.timeseries.add()
        for name, value in labels.items():
            item.labels.add(name=name, value=value)
        for timestamp, value in samples:
            item.samples.add(timestamp=timestamp, value=value)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def test_write_stores_samples(live_server: LiveServer) -> None:
    """A valid request is answered 204 and its samples are in the store."""
    body = _request(({"__name__": "pushed", "job": "edge"}, [(1000, 1.0), (2000, 2.5)]))
    response = httpx.post(live_server.url + "/api/v1/write", content=body, headers=HEADERS)
    assert response.status_code == 204
    (series,) = live_server.storage.querier().select([Matcher("__name__", "=", "pushed")], 0, 3000)
    assert series.labels == {"__name__": "pushed", "job": "edge"}
    assert series.timestamps.tolist() == [1000, 2000]
    assert series.values.tolist() == [1.0, 2.5]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not snappy at all", "snappy decode error"),
        (bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff")), "protobuf decode error"),
        (_request(({"job": "x"}, [(1, 1.0)])), "timeseries[0]: missing metric name"),
        (_request(({"__name__": "a", "1bad": "x"}, [(1, 1.0)])), "invalid label name '1bad'"),
    ],
)
def test_bad_payloads_are_refused_with_400(
    live_server: LiveServer, body: bytes, message: str
) -> None:
    """Undecodable or invalid requests get 400 (not retried) and store nothing."""
    response = httpx.post(live_server.url + "/api/v1/write", content=body, headers=HEADERS)
    assert response.status_code == 400
    assert message in response.text
    assert live_server.storage.querier().select([], 0, 2**62) == []


def test_remote_write_2_is_refused_with_415(live_server: LiveServer) -> None:
    """A 2.0 message type is refused (415), never misread as 1.0."""
    headers = {
        **HEADERS,
        "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    }
    body = _request(({"__name__": "x"}, [(1, 1.0)]))
    response = httpx.post(live_server.url + "/api/v1/write", content=body, headers=headers)
    assert response.status_code == 415
    assert live_server.storage.querier().select([], 0, 2**62) == []


def test_decode_rejects_duplicate_labels() -> None:
    """Two labels with the same name are an error."""
    request = WriteRequest()
    item = request.timeseries.add()
    item.labels.add(name="__name__", value="a")
    item.labels.add(name="__name__", value="b")
    with pytest.raises(PayloadError, match="duplicate label name '__name__'"):
        decode(bytes(cramjam.snappy.compress_raw(request.SerializeToString())))


@pytest.mark.slow
def test_real_prometheus_remote_writes_into_vigie(live_server: LiveServer, tmp_path: Path) -> None:
    """The Debian prometheus binary scrapes itself and remote-writes to vigie."""
    binary = require_binary("prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: prom\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        f"remote_write:\n  - url: {live_server.url}/api/v1/write\n"
        "    queue_config: {batch_send_deadline: 1s, min_backoff: 100ms}\n"
        "    metadata_config: {send_interval: 1s}\n"
    )
    with running_prometheus(binary, config, tmp_path / "tsdb", port) as prometheus:
        deadline = time.monotonic() + 30
        found = []
        while time.monotonic() < deadline and not found:
            time.sleep(0.5)
            found = live_server.storage.querier().select(
                [Matcher("__name__", "=", "up"), Matcher("job", "=", "prom")], 0, 2**62
            )
        assert found, f"no sample arrived from prometheus:\n{prometheus.log_tail()}"
        assert found[0].labels == {"__name__": "up", "instance": f"127.0.0.1:{port}", "job": "prom"}
        assert set(found[0].values.tolist()) == {1.0}
        names = live_server.storage.querier().label_values("__name__", [], 0, 2**62)
        assert "prometheus_build_info" in names
        metadata: dict[str, list[dict[str, str]]] = {}
        while time.monotonic() < deadline and "prometheus_build_info" not in metadata:
            time.sleep(0.3)
            metadata = httpx.get(live_server.url + "/api/v1/metadata").json()["data"]
        assert metadata["prometheus_build_info"][0]["type"] == "gauge"
