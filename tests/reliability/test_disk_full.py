"""A full disk under a real server: ingest fails loudly, reads work, nothing is corrupted, and
ingest recovers once space returns.

The data directory is a real 24 MiB tmpfs mounted for the test (needs root or CAP_SYS_ADMIN: under
CI its absence fails the test, elsewhere it skips). A ballast file fills the remaining space.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reliability.server_process import REMOTE_WRITE_HEADERS, ServerProcess, remote_write_body
from support import missing
from vigie.store.interface import Matcher
from vigie.store.tsdb import DiskStorage

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs mounted on a temporary directory, unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        missing(f"cannot mount a tmpfs (needs root): {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(directory: Path) -> Path:
    """Write a ballast file until the filesystem says ENOSPC."""
    ballast = directory / "ballast"
    block = b"\xff" * (64 << 10)
    descriptor = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    failure = 0
    try:
        while True:
            os.write(descriptor, block)  # unbuffered: nothing left to flush at close
    except OSError as error:
        failure = error.errno or 0
    finally:
        os.close(descriptor)
    assert failure == errno.ENOSPC
    return ballast


def _write(url: str, timestamp: int, value: float) -> httpx.Response:
    series = [({"__name__": "disk_test", "n": str(n)}, [(timestamp, value)]) for n in range(200)]
    return httpx.post(url + "/api/v1/write", content=remote_write_body(series),
                      headers=REMOTE_WRITE_HEADERS, timeout=10)  # fmt: skip


def test_disk_full_then_recovery(small_disk: Path, tmp_path: Path) -> None:
    """Full disk: remote write 500 'WAL write failed', queries still 200; space back: 204."""
    config = tmp_path / "vigie.yml"
    config.write_text(
        "vigie:\n  self_monitoring: {enabled: false}\n  telemetry: {enabled: false}\n"
    )
    data = small_disk / "data"
    server = ServerProcess(config, data)
    server.start()
    now = int(time.time() * 1000)
    acknowledged = []
    try:
        for index in range(5):
            assert _write(server.url, now + index, float(index)).status_code == 204
            acknowledged.append(now + index)
        ballast = _fill(small_disk)

        refused = [_write(server.url, now + 100 + index, 1.0) for index in range(20)]
        statuses = {response.status_code for response in refused}
        failed = [r for r in refused if r.status_code != 204]
        assert failed, f"every write was accepted on a full disk: {statuses}"
        assert all(r.status_code == 500 for r in failed), statuses
        assert failed[0].text.startswith("WAL write failed: [Errno 28]")  # ENOSPC, named
        acknowledged += [now + 100 + i for i, r in enumerate(refused) if r.status_code == 204]

        params = {"query": "count(disk_test)", "time": str((now + 5) / 1000)}
        query = httpx.get(server.url + "/api/v1/query", params=params)
        assert query.status_code == 200
        assert query.json()["data"]["result"][0]["value"][1] == "200"  # reads keep working
        assert httpx.get(server.url + "/-/healthy").status_code == 200

        os.unlink(ballast)
        recovered = _write(server.url, now + 1_000, 42.0)
        assert recovered.status_code == 204, recovered.text
        acknowledged.append(now + 1_000)
        server.stop()
    finally:
        server.kill()

    storage = DiskStorage(data)
    try:
        assert storage.check().ok
        stored = storage.querier().select([Matcher("n", "=", "7")], 0, 2**62)
        assert set(acknowledged) <= set(stored[0].timestamps.tolist())
    finally:
        storage.close()
