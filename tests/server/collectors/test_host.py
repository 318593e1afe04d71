"""The host collector against the real node_exporter on the same machine."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from support import free_port, require_binary
from vigie.server.collectors.host import HostCollector, _meminfo_families


def _families(text: str) -> dict[str, tuple[str, set[tuple[str, ...]], dict[tuple, float]]]:
    """name -> (type, label-name sets, {(sample name, sorted labels): value})."""
    found = {}
    for family in text_string_to_metric_families(text):
        label_sets = {tuple(sorted(sample.labels)) for sample in family.samples}
        values = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for sample in family.samples
        }
        found[family.name] = (family.type, label_sets, values)
    return found


@pytest.fixture(scope="module")
def node_exporter_text() -> Iterator[str]:
    """The /metrics text of a real node_exporter started on a free port."""
    binary = require_binary("prometheus-node-exporter", package="prometheus-node-exporter")
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
                    yield reply.read().decode()
                    return
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def vigie_text() -> str:
    """The exposition of vigie's host collector on this machine."""
    registry = CollectorRegistry()
    registry.register(HostCollector())
    return generate_latest(registry).decode()


def test_every_family_exists_in_node_exporter_with_same_type_and_labels(
    node_exporter_text: str, vigie_text: str
) -> None:
    """Each family vigie emits is in node_exporter's output with the same type and label names."""
    theirs = _families(node_exporter_text)
    ours = _families(vigie_text)
    assert len(ours) >= 40  # cpu, ~50 meminfo lines, filesystem, disk, network, load, ...
    problems = []
    for name, (kind, label_sets, _values) in ours.items():
        if name not in theirs:
            problems.append(f"{name}: not in node_exporter")
        elif theirs[name][0] != kind:
            problems.append(f"{name}: type {kind}, node_exporter {theirs[name][0]}")
        elif label_sets != theirs[name][1]:
            problems.append(f"{name}: labels {label_sets}, node_exporter {theirs[name][1]}")
    assert problems == []


def test_core_families_are_present(vigie_text: str) -> None:
    """The families the rule pack uses are all collected on Linux."""
    names = set(_families(vigie_text))
    assert {
        "node_cpu_seconds",
        "node_memory_MemTotal_bytes",
        "node_memory_MemAvailable_bytes",
        "node_memory_SwapTotal_bytes",
        "node_memory_SwapFree_bytes",
        "node_filesystem_size_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_free_bytes",
        "node_disk_read_bytes",
        "node_disk_written_bytes",
        "node_disk_io_time_seconds",
        "node_network_receive_bytes",
        "node_network_transmit_errs",
        "node_load1",
        "node_load5",
        "node_load15",
        "node_filefd_allocated",
        "node_filefd_maximum",
        "node_boot_time_seconds",
        "node_uname_info",
    } <= names


def test_stable_values_match_node_exporter(node_exporter_text: str, vigie_text: str) -> None:
    """Values that do not move (memory size, disk size, fd limit, boot time, uname) are equal."""
    theirs = _families(node_exporter_text)
    ours = _families(vigie_text)
    for name in (
        "node_memory_MemTotal_bytes",
        "node_memory_SwapTotal_bytes",
        "node_filefd_maximum",
    ):
        assert ours[name][2] == theirs[name][2], name
    assert ours["node_filesystem_size_bytes"][2] == theirs["node_filesystem_size_bytes"][2]
    assert ours["node_uname_info"][2] == theirs["node_uname_info"][2]
    (boot_ours,) = ours["node_boot_time_seconds"][2].values()
    (boot_theirs,) = theirs["node_boot_time_seconds"][2].values()
    assert abs(boot_ours - boot_theirs) <= 1


def test_promtool_finds_only_node_exporter_own_camel_case(vigie_text: str) -> None:
    """promtool check metrics reports nothing but the camelCase names node_exporter itself uses."""
    promtool = require_binary("promtool", package="prometheus")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=vigie_text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    unexpected = [
        line for line in lines if not (line.startswith("node_memory_") and "camelCase" in line)
    ]
    assert unexpected == []


def test_meminfo_lines_are_named_like_node_exporter() -> None:
    """/proc/meminfo lines become node_memory_<Key>_bytes; unit-less lines keep no suffix."""
    text = "MemTotal:       16384 kB\nActive(anon):    1024 kB\nHugePages_Total:       3\n"
    families = {family.name: family.samples[0].value for family in _meminfo_families(text)}
    assert families == {
        "node_memory_MemTotal_bytes": 16384 * 1024,
        "node_memory_Active_anon_bytes": 1024 * 1024,
        "node_memory_HugePages_Total": 3,
    }


def test_filesystems_option_limits_mount_points() -> None:
    """With filesystems=["/"], only the root mount is reported."""
    registry = CollectorRegistry()
    registry.register(HostCollector(filesystems=["/"]))
    mounts = {
        sample.labels["mountpoint"]
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        if family.name == "node_filesystem_size_bytes"
        for sample in family.samples
    }
    assert mounts == {"/"}


def test_excluded_devices_are_left_out() -> None:
    """A network exclude pattern matching everything leaves no network family."""
    registry = CollectorRegistry()
    registry.register(HostCollector(network_devices_exclude=".*", disk_devices_exclude=".*"))
    text = generate_latest(registry).decode()
    assert "node_network_" not in text
    assert "node_disk_" not in text
    assert "node_load1 " in text


def test_a_failing_section_is_left_out_and_collect_does_not_raise(tmp_path: Path) -> None:
    """An unreadable /proc file drops its section only; the rest is still collected."""
    (tmp_path / "meminfo").mkdir()  # reading a directory fails
    registry = CollectorRegistry()
    registry.register(HostCollector(procfs=str(tmp_path)))
    text = generate_latest(registry).decode()
    assert "node_memory_" not in text
    assert "node_cpu_seconds_total" in text


def test_a_hung_mount_is_reported_as_device_error_and_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A statfs that does not answer marks the mount device_error 1 within the timeout, once."""
    import threading

    from vigie.server.collectors import host

    release = threading.Event()
    calls: list[str] = []
    real_statvfs = host.os.statvfs

    def hanging_statvfs(path: str) -> object:
        calls.append(path)
        if path == "/":
            release.wait(10)  # a hung NFS server, simulated
        return real_statvfs(path)

    monkeypatch.setattr(host.os, "statvfs", hanging_statvfs)
    collector = HostCollector(filesystems=["/"], filesystem_timeout_seconds=0.2)

    def root_samples() -> dict[str, float]:
        registry = CollectorRegistry()
        registry.register(collector)
        return {
            family.name: sample.value
            for family in text_string_to_metric_families(generate_latest(registry).decode())
            if family.name.startswith("node_filesystem_")
            for sample in family.samples
        }

    started = time.monotonic()
    assert root_samples() == {"node_filesystem_device_error": 1.0}
    assert time.monotonic() - started < 2
    assert root_samples() == {"node_filesystem_device_error": 1.0}
    assert calls == ["/"]  # the stuck mount is not asked again while its call hangs
    release.set()
    deadline = time.monotonic() + 5
    while "/" in collector._stuck and time.monotonic() < deadline:
        time.sleep(0.01)
    assert root_samples()["node_filesystem_device_error"] == 0.0
