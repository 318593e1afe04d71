"""Build the built-in collectors from the ``collectors:`` section of the server configuration.

The section sits under vigie's own top-level key (Prometheus has no such thing)::

    vigie:
      collectors:
        host:
          enabled: true                 # default true when the section is present
          filesystems: ["/", "/data"]   # mount points; default: all real ones
          network_devices_exclude: "^(lo|docker.*)$"
          disk_devices_exclude: "^(ram|loop)\\d+$"
        postgres:
          - name: main
            url: postgresql://monitor@db.internal:5432/postgres
            timeout_seconds: 5

A bad key or value raises :class:`~vigie.exceptions.ConfigurationError` naming the field
(``collectors.postgres[1].url``), before anything starts.

Example::

    >>> [type(c).__name__ for c in build_collectors({"host": {"enabled": True}})]
    ['HostCollector']
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from prometheus_client.registry import Collector

from vigie.exceptions import ConfigurationError
from vigie.server.collectors.host import (
    DEFAULT_DISK_DEVICES_EXCLUDE,
    DEFAULT_FS_TYPES_EXCLUDE,
    DEFAULT_MOUNT_POINTS_EXCLUDE,
    DEFAULT_NETWORK_DEVICES_EXCLUDE,
    HostCollector,
)
from vigie.server.collectors.postgres import PostgresCollector, PostgresTarget

__all__ = ["build_collectors"]

logger = logging.getLogger("vigie.server")

_SECTION = "collectors"
_HOST_KEYS = {
    "enabled",
    "filesystems",
    "mount_points_exclude",
    "fs_types_exclude",
    "network_devices_exclude",
    "disk_devices_exclude",
    "procfs",
    "filesystem_timeout_seconds",
}
_POSTGRES_KEYS = {"url", "name", "timeout_seconds"}
_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,64}\Z")


def build_collectors(config_section: Mapping[str, Any] | None) -> list[Collector]:
    """The collectors the ``collectors:`` section asks for (none when it is empty or absent)."""
    if config_section is None:
        return []
    if not isinstance(config_section, Mapping):
        raise ConfigurationError("must be a mapping", field=_SECTION)
    # ``container`` (cAdvisor) is read by `vigie stack export` only: the embedded server does not
    # collect container metrics, and says so instead of refusing a config shared with the export.
    unknown = set(config_section) - {"host", "postgres", "container"}
    if unknown:
        raise ConfigurationError(
            f"unknown collector {sorted(unknown)[0]!r}; known: host, postgres, container",
            field=f"{_SECTION}.{sorted(unknown)[0]}",
        )
    collectors: list[Collector] = []
    if config_section.get("container"):
        logger.warning(
            "collectors.container is used by `vigie stack export` (cAdvisor); the embedded server "
            "does not collect container metrics"
        )
    host = config_section.get("host")
    if host is not None:
        collector = _host(host)
        if collector is not None:
            collectors.append(collector)
    postgres = config_section.get("postgres")
    if postgres is not None:
        collectors.append(_postgres(postgres))
    return collectors


def _host(section: Any) -> HostCollector | None:
    where = f"{_SECTION}.host"
    if section is True:
        section = {}
    if section is False:
        return None
    if not isinstance(section, Mapping):
        raise ConfigurationError("must be a mapping or true/false", field=where)
    _no_unknown_keys(section, _HOST_KEYS, where)
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigurationError("must be true or false", field=f"{where}.enabled")
    if not enabled:
        return None
    filesystems = section.get("filesystems")
    if filesystems is not None and (
        isinstance(filesystems, str)
        or not isinstance(filesystems, list)
        or not all(isinstance(item, str) and item.startswith("/") for item in filesystems)
    ):
        raise ConfigurationError(
            "must be a list of absolute mount points", field=f"{where}.filesystems"
        )
    patterns = {
        key: _pattern(section.get(key, default), f"{where}.{key}")
        for key, default in (
            ("mount_points_exclude", DEFAULT_MOUNT_POINTS_EXCLUDE),
            ("fs_types_exclude", DEFAULT_FS_TYPES_EXCLUDE),
            ("network_devices_exclude", DEFAULT_NETWORK_DEVICES_EXCLUDE),
            ("disk_devices_exclude", DEFAULT_DISK_DEVICES_EXCLUDE),
        )
    }
    procfs = section.get("procfs", "/proc")
    if not isinstance(procfs, str) or not procfs.startswith("/"):
        raise ConfigurationError("must be an absolute path", field=f"{where}.procfs")
    timeout = section.get("filesystem_timeout_seconds", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise ConfigurationError(
            "must be a number of seconds in (0, 60]", field=f"{where}.filesystem_timeout_seconds"
        )
    return HostCollector(
        filesystems=filesystems,
        procfs=procfs,
        filesystem_timeout_seconds=float(timeout),
        **patterns,
    )


def _postgres(section: Any) -> PostgresCollector:
    where = f"{_SECTION}.postgres"
    entries = [section] if isinstance(section, Mapping) else section
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError("must be a list of {url, name} entries", field=where)
    targets = []
    for index, entry in enumerate(entries):
        at = f"{where}[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigurationError("must be a mapping with a url", field=at)
        _no_unknown_keys(entry, _POSTGRES_KEYS, at)
        url = entry.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ConfigurationError("is required: a PostgreSQL connection URL", field=f"{at}.url")
        _check_url(url, f"{at}.url")
        name = entry.get("name")
        if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
            raise ConfigurationError(
                "must be 1-64 characters among letters, digits and _.:/-", field=f"{at}.name"
            )
        timeout = entry.get("timeout_seconds", 5.0)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= 300
        ):
            raise ConfigurationError(
                "must be a number of seconds in (0, 300]", field=f"{at}.timeout_seconds"
            )
        targets.append(PostgresTarget(url=url, name=name, timeout_seconds=float(timeout)))
    if len(targets) > 1:
        names = [target.name for target in targets]
        if None in names:
            raise ConfigurationError(
                "every entry needs a name when several databases are watched", field=where
            )
        duplicates = sorted({name for name in names if names.count(name) > 1 and name})
        if duplicates:
            raise ConfigurationError(f"duplicate name {duplicates[0]!r}", field=where)
    return PostgresCollector(targets)


def _check_url(url: str, where: str) -> None:
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError as error:
        raise ConfigurationError(
            "the postgres collector needs psycopg: pip install 'psycopg[binary]'", field=where
        ) from error
    try:
        conninfo_to_dict(url)
    except Exception as error:
        # The message of libpq never echoes the password back; keep only its first line.
        first = str(error).strip().splitlines()[:1]
        raise ConfigurationError(
            f"invalid connection URL: {first[0] if first else type(error).__name__}", field=where
        ) from None


def _pattern(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigurationError("must be a regular expression string", field=where)
    try:
        re.compile(value)
    except re.error as error:
        raise ConfigurationError(f"invalid regular expression: {error}", field=where) from None
    return value


def _no_unknown_keys(section: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}",
            field=f"{where}.{unknown[0]}",
        )
