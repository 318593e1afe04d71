"""The host's CPU, memory, disks, network and load, under node_exporter's names and labels.

In embedded mode vigie measures the machine it runs on itself, so the usual node_exporter rules
and dashboards (``node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes``,
``predict_linear(node_filesystem_avail_bytes[6h], 4*3600) < 0``) work unchanged, and a
production stack can swap in the real node_exporter without renaming anything. Every family below
exists in node_exporter 1.5 with the same type and label names (a test compares the two on the
same machine); values come from ``psutil`` and, on Linux, from the same ``/proc`` files
node_exporter reads.

Families (Linux; on other systems the ``/proc``-only ones are absent):

======================================== ======= ===================================================
name                                     type    labels
======================================== ======= ===================================================
node_cpu_seconds_total                   counter cpu, mode (user nice system idle iowait irq
                                                 softirq steal)
node_cpu_guest_seconds_total             counter cpu, mode (user nice)
node_memory_<Field>_bytes                gauge   every line of /proc/meminfo (MemTotal,
                                                 MemAvailable, MemFree, Buffers, Cached, SwapTotal,
                                                 SwapFree, ...); unit-less lines keep no suffix
node_filesystem_size_bytes / free_bytes  gauge   device, fstype, mountpoint
/ avail_bytes / files / files_free /
readonly / device_error
node_disk_reads_completed_total,         counter device (whole disks; partitions excluded as
writes_completed_total, read_bytes_total,        node_exporter does)
written_bytes_total, read_time_seconds_
total, write_time_seconds_total, reads_
merged_total, writes_merged_total,
io_time_seconds_total
node_network_receive/transmit_bytes_     counter device (``lo`` excluded)
total, _packets_total, _errs_total,
_drop_total
node_load1, node_load5, node_load15      gauge   -
node_filefd_allocated, node_filefd_      gauge   -
maximum
node_boot_time_seconds, node_time_       gauge   -
seconds
node_context_switches_total,             counter -
node_intr_total, node_forks_total
node_procs_running, node_procs_blocked   gauge   -
node_uname_info                          gauge   sysname, release, version, machine, nodename,
                                                 domainname
======================================== ======= ===================================================

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> _ = registry.register(HostCollector())
    >>> registry.get_sample_value("node_memory_MemTotal_bytes") > 0
    True
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "DEFAULT_DISK_DEVICES_EXCLUDE",
    "DEFAULT_FS_TYPES_EXCLUDE",
    "DEFAULT_MOUNT_POINTS_EXCLUDE",
    "DEFAULT_NETWORK_DEVICES_EXCLUDE",
    "HostCollector",
]

logger = logging.getLogger("vigie.collectors")

# node_exporter 1.5's default filters, so both report the same devices and mount points.
DEFAULT_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
DEFAULT_FS_TYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"
    r"iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|"
    r"sysfs|tracefs)$"
)
DEFAULT_DISK_DEVICES_EXCLUDE = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"
DEFAULT_NETWORK_DEVICES_EXCLUDE = r"^lo$"

_CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
_FS_LABELS = ("device", "fstype", "mountpoint")
# psutil disk counter field -> (node_exporter suffix, divisor to seconds or 1, help)
_DISK_FIELDS = (
    ("read_count", "reads_completed_total", 1, "The total number of reads completed."),
    ("write_count", "writes_completed_total", 1, "The total number of writes completed."),
    ("read_bytes", "read_bytes_total", 1, "The total number of bytes read successfully."),
    ("write_bytes", "written_bytes_total", 1, "The total number of bytes written successfully."),
    ("read_time", "read_time_seconds_total", 1000, "The total seconds spent by all reads."),
    ("write_time", "write_time_seconds_total", 1000, "The total seconds spent by all writes."),
    ("read_merged_count", "reads_merged_total", 1, "The total number of reads merged."),
    ("write_merged_count", "writes_merged_total", 1, "The number of writes merged."),
    ("busy_time", "io_time_seconds_total", 1000, "Total seconds spent doing I/Os."),
)  # fmt: skip
# psutil network counter field -> node_exporter name
_NETWORK_FIELDS = (
    ("bytes_recv", "node_network_receive_bytes_total"),
    ("packets_recv", "node_network_receive_packets_total"),
    ("errin", "node_network_receive_errs_total"),
    ("dropin", "node_network_receive_drop_total"),
    ("bytes_sent", "node_network_transmit_bytes_total"),
    ("packets_sent", "node_network_transmit_packets_total"),
    ("errout", "node_network_transmit_errs_total"),
    ("dropout", "node_network_transmit_drop_total"),
)
_MEMINFO_KEY = re.compile(r"\((.*)\)")


class HostCollector(Collector):
    """Collects the host's metrics at each scrape (no background thread, no state but filters).

    - ``filesystems``: mount points to report; None reports every mount that passes
      ``mount_points_exclude`` and ``fs_types_exclude`` (node_exporter's defaults).
    - ``network_devices_exclude`` / ``disk_devices_exclude``: regular expressions of device names
      left out (defaults: node_exporter's).
    - ``procfs``: where ``/proc`` is mounted (a container watching its host mounts it elsewhere).
    - ``filesystem_timeout_seconds``: how long to wait for one mount's statistics. A mount that
      does not answer (a hung NFS server) is reported with ``node_filesystem_device_error 1`` and
      skipped until its pending call returns, as node_exporter does with "stuck" mounts.

    A section that fails (a permission error, a file missing on this system) is logged once on
    the ``vigie.collectors`` logger and left out; ``collect()`` itself never raises.
    """

    def __init__(
        self,
        *,
        filesystems: Sequence[str] | None = None,
        mount_points_exclude: str = DEFAULT_MOUNT_POINTS_EXCLUDE,
        fs_types_exclude: str = DEFAULT_FS_TYPES_EXCLUDE,
        network_devices_exclude: str = DEFAULT_NETWORK_DEVICES_EXCLUDE,
        disk_devices_exclude: str = DEFAULT_DISK_DEVICES_EXCLUDE,
        procfs: str = "/proc",
        filesystem_timeout_seconds: float = 5.0,
    ) -> None:
        self.filesystems = None if filesystems is None else tuple(filesystems)
        self._mount_points_exclude = re.compile(mount_points_exclude)
        self._fs_types_exclude = re.compile(fs_types_exclude)
        self._network_exclude = re.compile(network_devices_exclude)
        self._disk_exclude = re.compile(disk_devices_exclude)
        self._procfs = Path(procfs)
        self._statfs_timeout = filesystem_timeout_seconds
        self._stuck: set[str] = set()
        self._failed: set[str] = set()
        self._lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the families depend on the system (see the module docstring)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Read every section now and yield its families."""
        sections: tuple[tuple[str, Callable[[], list[Metric]]], ...] = (
            ("cpu", self._cpu),
            ("meminfo", self._memory),
            ("filesystem", self._filesystems),
            ("diskstats", self._disks),
            ("netdev", self._network),
            ("loadavg", self._load),
            ("filefd", self._filefd),
            ("stat", self._stat),
            ("time", self._time),
            ("uname", self._uname),
        )
        for name, section in sections:
            try:
                families = section()
            except Exception:
                self._log_once(name)
                continue
            yield from families

    def _log_once(self, section: str) -> None:
        with self._lock:
            if section in self._failed:
                return
            self._failed.add(section)
        logger.warning("host collector: section %s failed; left out", section, exc_info=True)

    def _cpu(self) -> list[Metric]:
        seconds = CounterMetricFamily(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            labels=["cpu", "mode"],
        )
        guest = CounterMetricFamily(
            "node_cpu_guest_seconds_total",
            "Seconds the CPUs spent in guests (VMs) for each mode.",
            labels=["cpu", "mode"],
        )
        for index, times in enumerate(psutil.cpu_times(percpu=True)):
            cpu = str(index)
            for mode in _CPU_MODES:
                value = getattr(times, mode, None)
                if value is not None:
                    seconds.add_metric([cpu, mode], float(value))
            for field, mode in (("guest", "user"), ("guest_nice", "nice")):
                value = getattr(times, field, None)
                if value is not None:
                    guest.add_metric([cpu, mode], float(value))
        return [seconds, guest] if guest.samples else [seconds]

    def _memory(self) -> list[Metric]:
        meminfo = self._procfs / "meminfo"
        if meminfo.exists():
            return list(_meminfo_families(meminfo.read_text()))
        # Not Linux: the subset psutil knows, under the Linux names dashboards use.
        virtual, swap = psutil.virtual_memory(), psutil.swap_memory()
        figures = {
            "MemTotal": virtual.total,
            "MemAvailable": virtual.available,
            "MemFree": virtual.free,
            "SwapTotal": swap.total,
            "SwapFree": swap.free,
        }
        return [
            GaugeMetricFamily(
                f"node_memory_{key}_bytes", f"Memory information field {key}_bytes.", value=value
            )
            for key, value in figures.items()
        ]

    def _filesystems(self) -> list[Metric]:
        families = {
            "size_bytes": GaugeMetricFamily(
                "node_filesystem_size_bytes", "Filesystem size in bytes.", labels=_FS_LABELS
            ),
            "free_bytes": GaugeMetricFamily(
                "node_filesystem_free_bytes", "Filesystem free space in bytes.", labels=_FS_LABELS
            ),
            "avail_bytes": GaugeMetricFamily(
                "node_filesystem_avail_bytes",
                "Filesystem space available to non-root users in bytes.",
                labels=_FS_LABELS,
            ),
            "files": GaugeMetricFamily(
                "node_filesystem_files", "Filesystem total file nodes.", labels=_FS_LABELS
            ),
            "files_free": GaugeMetricFamily(
                "node_filesystem_files_free", "Filesystem total free file nodes.", labels=_FS_LABELS
            ),
            "readonly": GaugeMetricFamily(
                "node_filesystem_readonly", "Filesystem read-only status.", labels=_FS_LABELS
            ),
            "device_error": GaugeMetricFamily(
                "node_filesystem_device_error",
                "Whether an error occurred while getting statistics for the given device.",
                labels=_FS_LABELS,
            ),
        }
        seen: set[tuple[str, str, str]] = set()
        for partition in psutil.disk_partitions(all=True):
            labels = (partition.device, partition.fstype, partition.mountpoint)
            if labels in seen or not self._wanted_mount(partition.mountpoint, partition.fstype):
                continue
            seen.add(labels)
            values = list(labels)
            try:
                stat = self._statvfs(partition.mountpoint)
            except OSError:
                families["device_error"].add_metric(values, 1.0)
                continue
            families["device_error"].add_metric(values, 0.0)
            families["size_bytes"].add_metric(values, float(stat.f_blocks * stat.f_frsize))
            families["free_bytes"].add_metric(values, float(stat.f_bfree * stat.f_frsize))
            families["avail_bytes"].add_metric(values, float(stat.f_bavail * stat.f_frsize))
            families["files"].add_metric(values, float(stat.f_files))
            families["files_free"].add_metric(values, float(stat.f_ffree))
            readonly = "ro" in partition.opts.split(",")
            families["readonly"].add_metric(values, 1.0 if readonly else 0.0)
        return [family for family in families.values() if family.samples]

    def _statvfs(self, mountpoint: str) -> os.statvfs_result:
        """``os.statvfs`` in a daemon thread, given up on after the timeout (OSError then)."""
        with self._lock:
            if mountpoint in self._stuck:
                raise OSError(f"{mountpoint}: a previous statfs call has not returned yet")
        outcome: list[os.statvfs_result | OSError] = []

        def work() -> None:
            try:
                outcome.append(os.statvfs(mountpoint))
            except OSError as error:
                outcome.append(error)
            finally:
                with self._lock:
                    self._stuck.discard(mountpoint)

        # A daemon thread, not an executor: a call stuck in the kernel must not block exit.
        thread = threading.Thread(target=work, name="vigie-statfs", daemon=True)
        thread.start()
        thread.join(self._statfs_timeout)
        if thread.is_alive():
            with self._lock:
                self._stuck.add(mountpoint)
            logger.warning("host collector: statfs(%s) did not answer; mount skipped", mountpoint)
            raise OSError(f"{mountpoint}: statfs timed out")
        result = outcome[0]
        if isinstance(result, OSError):
            raise result
        return result

    def _wanted_mount(self, mountpoint: str, fstype: str) -> bool:
        if self.filesystems is not None:
            return mountpoint in self.filesystems
        return not (
            self._mount_points_exclude.search(mountpoint) or self._fs_types_exclude.search(fstype)
        )

    def _disks(self) -> list[Metric]:
        counters = psutil.disk_io_counters(perdisk=True) or {}
        families: list[Metric] = []
        for field, suffix, divisor, help_text in _DISK_FIELDS:
            family = CounterMetricFamily(f"node_disk_{suffix}", help_text, labels=["device"])
            for device, figures in sorted(counters.items()):
                value = getattr(figures, field, None)
                if value is None or self._disk_exclude.search(device):
                    continue
                family.add_metric([device], float(value) / divisor)
            if family.samples:
                families.append(family)
        return families

    def _network(self) -> list[Metric]:
        counters = psutil.net_io_counters(pernic=True)
        families: list[Metric] = []
        for field, name in _NETWORK_FIELDS:
            readable = name.removeprefix("node_network_").removesuffix("_total").replace("_", " ")
            family = CounterMetricFamily(
                name, f"Network device statistic {readable}.", labels=["device"]
            )
            for device, figures in sorted(counters.items()):
                if not self._network_exclude.search(device):
                    family.add_metric([device], float(getattr(figures, field)))
            if family.samples:
                families.append(family)
        return families

    def _load(self) -> list[Metric]:
        one, five, fifteen = os.getloadavg()
        return [
            GaugeMetricFamily("node_load1", "1m load average.", value=one),
            GaugeMetricFamily("node_load5", "5m load average.", value=five),
            GaugeMetricFamily("node_load15", "15m load average.", value=fifteen),
        ]

    def _filefd(self) -> list[Metric]:
        path = self._procfs / "sys" / "fs" / "file-nr"
        if not path.exists():
            return []
        allocated, _unused, maximum = path.read_text().split()[:3]
        return [
            GaugeMetricFamily(
                "node_filefd_allocated",
                "File descriptor statistics: allocated.",
                value=float(allocated),
            ),
            GaugeMetricFamily(
                "node_filefd_maximum", "File descriptor statistics: maximum.", value=float(maximum)
            ),
        ]

    def _stat(self) -> list[Metric]:
        families: list[Metric] = [
            GaugeMetricFamily(
                "node_boot_time_seconds", "Node boot time, in unixtime.", value=psutil.boot_time()
            )
        ]
        path = self._procfs / "stat"
        if not path.exists():
            stats = psutil.cpu_stats()
            families.append(
                CounterMetricFamily(
                    "node_context_switches_total",
                    "Total number of context switches.",
                    value=stats.ctx_switches,
                )
            )
            families.append(
                CounterMetricFamily(
                    "node_intr_total",
                    "Total number of interrupts serviced.",
                    value=stats.interrupts,
                )
            )
            return families
        fields = {}
        for line in path.read_text().splitlines():
            key, _, rest = line.partition(" ")
            fields[key] = rest.split(" ", 1)[0] if rest else ""
        for key, name, kind, help_text in (
            ("ctxt", "node_context_switches_total", "counter", "Total number of context switches."),
            ("intr", "node_intr_total", "counter", "Total number of interrupts serviced."),
            ("processes", "node_forks_total", "counter", "Total number of forks."),
            ("procs_running", "node_procs_running", "gauge",
             "Number of processes in runnable state."),
            ("procs_blocked", "node_procs_blocked", "gauge",
             "Number of processes blocked waiting for I/O to complete."),
        ):  # fmt: skip
            if key not in fields:
                continue
            value = float(fields[key])
            if kind == "counter":
                families.append(CounterMetricFamily(name, help_text, value=value))
            else:
                families.append(GaugeMetricFamily(name, help_text, value=value))
        return families

    def _time(self) -> list[Metric]:
        return [
            GaugeMetricFamily(
                "node_time_seconds",
                "System time in seconds since epoch (1970).",
                value=time.time(),
            )
        ]

    def _uname(self) -> list[Metric]:
        uname = os.uname()
        domain_file = self._procfs / "sys" / "kernel" / "domainname"
        domainname = domain_file.read_text().strip() if domain_file.exists() else "(none)"
        family = GaugeMetricFamily(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
            labels=["sysname", "release", "version", "machine", "nodename", "domainname"],
        )
        family.add_metric(
            [
                uname.sysname,
                uname.release,
                uname.version,
                uname.machine,
                uname.nodename,
                domainname,
            ],
            1.0,
        )
        return [family]


def _meminfo_families(text: str) -> Iterator[Metric]:
    """One gauge per ``/proc/meminfo`` line, named as node_exporter names it."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].endswith(":"):
            continue
        key = _MEMINFO_KEY.sub(r"_\1", parts[0][:-1])
        value = float(parts[1])
        if len(parts) == 3:  # "kB": the kernel means KiB
            value *= 1024
            key += "_bytes"
        yield GaugeMetricFamily(
            f"node_memory_{key}", f"Memory information field {key}.", value=value
        )
