"""Which targets a scrape config names: static ones and those listed in file_sd files.

Target labels follow Prometheus: the group's labels, then ``job`` (the job name) and ``instance``
(the address) unless the group sets them. A file_sd file that is missing or invalid is reported and
its last good content kept, as Prometheus's file discovery does, so a half-written file never
drops targets.

Example::

    >>> from vigie.server.config_model import ScrapeConfig, StaticConfig
    >>> job = ScrapeConfig("app", 15_000, 10_000, static_configs=(StaticConfig(("h:8000",)),))
    >>> [(t.url, dict(t.labels)) for t in static_targets(job) if isinstance(t, Target)]
    [('http://h:8000/metrics', {'instance': 'h:8000', 'job': 'app'})]
"""

from __future__ import annotations

import glob
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import yaml

from vigie.exceptions import ConfigurationError
from vigie.server.config import format_duration
from vigie.server.config_model import FileSDConfig, ScrapeConfig, StaticConfig
from vigie.server.relabel import relabel

__all__ = [
    "DroppedTarget",
    "FileDiscovery",
    "Target",
    "discovered_labels",
    "make_target",
    "static_targets",
]

logger = logging.getLogger("vigie.server")


@dataclass(frozen=True)
class Target:
    """One thing to scrape: where, how, and the labels its series get."""

    scrape: ScrapeConfig
    address: str
    labels: tuple[tuple[str, str], ...]
    url: str
    source: str = "static"
    discovered: tuple[tuple[str, str], ...] = ()

    @property
    def job(self) -> str:
        return self.scrape.job_name

    @property
    def identity(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        """What makes two targets the same scrape (a reload keeps its loop running)."""
        return (self.scrape.job_name, self.url, self.labels)


@dataclass(frozen=True)
class DroppedTarget:
    """A discovered target that ``relabel_configs`` dropped (shown by the targets API)."""

    scrape: ScrapeConfig
    discovered: tuple[tuple[str, str], ...]


def discovered_labels(
    scrape: ScrapeConfig, address: str, group_labels: tuple[tuple[str, str], ...], source: str
) -> dict[str, str]:
    """The labels relabeling starts from, as Prometheus's ``PopulateLabels``."""
    labels = dict(group_labels)
    labels["__address__"] = address
    defaults = {
        "job": scrape.job_name,
        "__scrape_interval__": format_duration(scrape.scrape_interval_ms),
        "__scrape_timeout__": format_duration(scrape.scrape_timeout_ms),
        "__metrics_path__": scrape.metrics_path,
        "__scheme__": scrape.scheme,
    }
    for name, values in scrape.params:
        if values:
            defaults[f"__param_{name}"] = values[0]
    if source.startswith("file:"):
        defaults["__meta_filepath"] = source[len("file:") :]
    for name, value in defaults.items():
        labels.setdefault(name, value)
    return labels


def make_target(
    scrape: ScrapeConfig, address: str, group_labels: tuple[tuple[str, str], ...], source: str
) -> Target | DroppedTarget:
    """The target of ``scrape`` at ``address``, after ``relabel_configs`` (maybe dropped)."""
    discovered = discovered_labels(scrape, address, group_labels, source)
    frozen = tuple(sorted(discovered.items()))
    labels = relabel(discovered, scrape.relabel_configs) if scrape.relabel_configs else discovered
    if labels is None or not labels.get("__address__"):
        return DroppedTarget(scrape, frozen)
    address = labels["__address__"]
    if "/" in address:  # Prometheus's CheckTargetAddress: a URL is not a host:port
        logger.error(
            "job %s: %r is not a valid target address (host:port)", scrape.job_name, address
        )
        return DroppedTarget(scrape, frozen)
    labels.setdefault("instance", address)
    params = {name: list(values) for name, values in scrape.params}
    for name, value in labels.items():
        if name.startswith("__param_"):
            key = name[len("__param_") :]
            params.setdefault(key, [value])[0] = value
    scheme = labels.get("__scheme__", scrape.scheme)
    url = f"{scheme}://{address}{labels.get('__metrics_path__', scrape.metrics_path)}"
    if params:
        url += "?" + urlencode([(k, v) for k, values in params.items() for v in values])
    final = {k: v for k, v in labels.items() if not k.startswith("__") and v != ""}
    return Target(scrape, address, tuple(sorted(final.items())), url, source, frozen)


def static_targets(scrape: ScrapeConfig) -> list[Target | DroppedTarget]:
    """The targets of a job's ``static_configs``."""
    return [
        make_target(scrape, address, group.labels, "static")
        for group in scrape.static_configs
        for address in group.targets
    ]


class FileDiscovery:
    """Reads the files of one ``file_sd_configs`` entry, keeping each file's last good read."""

    def __init__(self, config: FileSDConfig) -> None:
        self.config = config
        self._groups: dict[str, list[StaticConfig]] = {}
        self._stamps: dict[str, float] = {}
        self.errors: dict[str, str] = {}

    def paths(self) -> list[str]:
        found: set[str] = set()
        for pattern in self.config.files:
            found.update(glob.glob(pattern))
        return sorted(found)

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read changed (or, with ``force``, all) files; True when the groups changed."""
        paths = self.paths()
        changed = set(self._groups) - set(paths)
        for gone in changed:
            self._groups.pop(gone, None)
            self._stamps.pop(gone, None)
            self.errors.pop(gone, None)
        for path in paths:
            try:
                stamp = os.stat(path).st_mtime_ns
            except OSError:
                continue
            if not force and self._stamps.get(path) == stamp:
                continue
            self._stamps[path] = stamp
            try:
                groups = read_target_file(path)
            except ConfigurationError as error:
                self.errors[path] = str(error)
                logger.error("file_sd: %s (keeping the last good targets)", error)
                continue
            self.errors.pop(path, None)
            if self._groups.get(path) != groups:
                self._groups[path] = groups
                changed.add(path)
        return bool(changed)

    def targets(self, scrape: ScrapeConfig) -> list[Target | DroppedTarget]:
        return [
            make_target(scrape, address, group.labels, f"file:{path}")
            for path, groups in sorted(self._groups.items())
            for group in groups
            for address in group.targets
        ]


def read_target_file(path: str) -> list[StaticConfig]:
    """Target groups of a file_sd file: a JSON or YAML list of ``{targets, labels}``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except OSError as error:
        raise ConfigurationError(f"cannot read: {error.strerror}", path=path) from None
    except (ValueError, yaml.YAMLError) as error:
        raise ConfigurationError(f"invalid target file: {error}", path=path) from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise ConfigurationError("expected a list of target groups", path=path)
    groups = []
    for index, group in enumerate(data):
        field = f"[{index}]"
        if not isinstance(group, dict) or set(group) - {"targets", "labels"}:
            raise ConfigurationError("expected {targets, labels}", path=path, field=field)
        targets = group.get("targets") or []
        labels = group.get("labels") or {}
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ConfigurationError("expected a list of host:port", path=path, field=field)
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise ConfigurationError("expected string labels", path=path, field=field)
        groups.append(StaticConfig(tuple(targets), tuple(sorted(labels.items()))))
    return groups
