"""The vigie configuration as the stack exporter needs it.

The file is the server's (``vigie.yml``): Prometheus syntax for what the two share (``global``,
``scrape_configs``, ``rule_files``, ``alerting``), kept *as written* so the exported
``prometheus.yml`` says exactly what the user said, and vigie-only settings under ``vigie:``,
mapped to the services that replace them in production:

- ``vigie.collectors.host`` / ``postgres`` / ``container`` become node_exporter,
  postgres_exporter and cAdvisor;
- ``vigie.rule_packs.ai`` (``enabled``, ``thresholds``) becomes the AI rule file;
- ``vigie.remote_write`` (Prometheus ``remote_write`` entries) goes to a long-term store;
- ``vigie.stack`` holds export-only choices (log files, traces pipeline, runbook address).

The server's own parser (:mod:`vigie.server.config`) is not imported here (the architecture keeps
``stack`` below ``server``), so this module re-reads the file with
:func:`vigie.yaml_source.load_yaml` and reports mistakes as ``FILE:LINE: FIELD: reason``.

Example::

    >>> config = parse_stack_config("scrape_configs:\\n  - job_name: app\\n"
    ...                             "vigie:\\n  collectors: {host: true}\\n")
    >>> config.scrape_configs[0]["job_name"], config.collectors.host
    ('app', True)
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigie.exceptions import ConfigurationError
from vigie.rules.packs.ai import AIPackThresholds, thresholds_from_mapping
from vigie.yaml_source import LineDict, LineList, load_yaml

__all__ = [
    "Collectors",
    "PostgresTarget",
    "StackConfig",
    "StackSettings",
    "load_stack_config",
    "parse_stack_config",
    "plain",
]

_TOP_KEYS = {"global", "scrape_configs", "rule_files", "alerting", "vigie"}
_VIGIE_KEYS = {"storage", "self_monitoring", "collectors", "rule_packs", "remote_write", "stack"}
_STACK_KEYS = {
    "log_files",
    "log_agent",
    "traces",
    "runbook_url",
    "grafana_url",
    "prometheus_url",
}
_NAME = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")


@dataclass(frozen=True)
class PostgresTarget:
    """One database watched by postgres_exporter; ``url`` carries no password."""

    name: str
    url: str


@dataclass(frozen=True)
class Collectors:
    """Which exporters replace vigie's built-in collectors."""

    host: bool = False
    postgres: tuple[PostgresTarget, ...] = ()
    container: bool = False


@dataclass(frozen=True)
class StackSettings:
    """``vigie.stack``: choices that only matter to the exported stack.

    ``log_files`` are globs tailed by the log agent (``alloy`` or ``promtail``) into Loki;
    ``traces`` is ``tempo`` (apps send OTLP to Tempo) or ``otel-collector`` (a collector in front of
    Tempo); ``runbook_url`` is where the AI pack's runbooks are published (Prometheus has
    no page for them); ``grafana_url`` and ``prometheus_url`` are the public addresses of Grafana
    and Prometheus (links in notifications, the ``generatorURL`` of alerts).
    """

    log_files: tuple[str, ...] = ()
    log_agent: str = "alloy"
    traces: str = "tempo"
    runbook_url: str | None = None
    grafana_url: str = "http://localhost:3000"
    prometheus_url: str = "http://localhost:9090"


@dataclass(frozen=True)
class StackConfig:
    """Everything the exporter reads from a vigie configuration file."""

    global_section: dict[str, Any] = field(default_factory=dict)
    scrape_configs: tuple[dict[str, Any], ...] = ()
    rule_files: tuple[str, ...] = ()
    alerting: dict[str, Any] = field(default_factory=dict)
    self_monitoring_job: str | None = "vigie"
    retention_time: str = "15d"
    collectors: Collectors = field(default_factory=Collectors)
    ai_pack: bool = False
    ai_thresholds: AIPackThresholds = field(default_factory=AIPackThresholds)
    remote_write: tuple[dict[str, Any], ...] = ()
    stack: StackSettings = field(default_factory=StackSettings)
    base_dir: Path = Path(".")
    source: str = "<string>"


def plain(value: Any) -> Any:
    """``value`` with :class:`LineDict` / :class:`LineList` turned into plain dicts and lists."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def load_stack_config(path: str | Path) -> StackConfig:
    """Read ``path``; relative paths inside are relative to its folder, as in Prometheus."""
    location = Path(path)
    try:
        text = location.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read: {error.strerror}", path=str(location)) from None
    return parse_stack_config(text, source=str(location), base_dir=location.resolve().parent)


def parse_stack_config(
    text: str, *, source: str = "<string>", base_dir: Path | None = None
) -> StackConfig:
    """Validate configuration ``text``; errors name ``source``, the line and the field."""
    document = load_yaml(text, source=source)
    reader = _Reader(source)
    if document is None:
        return StackConfig(base_dir=base_dir or Path("."), source=source)
    top = reader.mapping(document, "", None)
    reader.known(top, _TOP_KEYS, "")
    scrape = reader.sequence(top.get("scrape_configs"), "scrape_configs", top)
    jobs: list[dict[str, Any]] = []
    for index, item in enumerate(scrape):
        where = f"scrape_configs[{index}]"
        job = reader.mapping(item, where, top)
        if not isinstance(job.get("job_name"), str) or not job["job_name"]:
            raise reader.fail(f"{where}.job_name", "missing (every scrape config needs one)", job)
        jobs.append(plain(job))
    rule_files = reader.sequence(top.get("rule_files"), "rule_files", top)
    for index, pattern in enumerate(rule_files):
        if not isinstance(pattern, str):
            raise reader.fail(f"rule_files[{index}]", "expected a string", rule_files, index)
    alerting = top.get("alerting") or {}
    if alerting:
        reader.mapping(alerting, "alerting", top)
    config = StackConfig(
        global_section=plain(reader.mapping(top.get("global") or LineDict(), "global", top)),
        scrape_configs=tuple(jobs),
        rule_files=tuple(rule_files),
        alerting=plain(alerting),
        base_dir=base_dir or Path("."),
        source=source,
    )
    if top.get("vigie") is not None:
        config = reader.vigie(reader.mapping(top["vigie"], "vigie", top), config)
    return config


class _Reader:
    """Type checks that raise errors located at the offending key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(
        self, where: str, message: str, container: Any = None, key: Any = None
    ) -> ConfigurationError:
        line = None
        if isinstance(container, LineDict | LineList):
            line = container.line_of(key) if key is not None else container.line
        return ConfigurationError(message, path=self.source, line=line, field=where or None)

    def mapping(self, value: Any, where: str, parent: Any, key: Any = None) -> LineDict:
        if not isinstance(value, LineDict):
            raise self.fail(where, "expected a mapping", parent, key or where.rsplit(".", 1)[-1])
        return value

    def sequence(self, value: Any, where: str, parent: Any) -> LineList:
        if value is None:
            return LineList()
        if not isinstance(value, LineList):
            raise self.fail(where, "expected a list", parent, where.rsplit(".", 1)[-1])
        return value

    def known(self, mapping: LineDict, allowed: set[str], where: str) -> None:
        for key in mapping:
            if key not in allowed:
                name = f"{where}.{key}" if where else str(key)
                raise self.fail(name, "unknown field", mapping, key)

    def boolean(self, mapping: LineDict, key: str, where: str, default: bool) -> bool:
        value = mapping.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(
                f"{where}.{key}", f"expected true or false, got {value!r}", mapping, key
            )
        return value

    def string(self, mapping: LineDict, key: str, where: str, choices: tuple[str, ...] = ()) -> str:
        value = mapping[key]
        if not isinstance(value, str) or not value:
            raise self.fail(f"{where}.{key}", f"expected a string, got {value!r}", mapping, key)
        if choices and value not in choices:
            expected = " or ".join(choices)
            raise self.fail(f"{where}.{key}", f"expected {expected}, got {value!r}", mapping, key)
        return value

    def vigie(self, section: LineDict, config: StackConfig) -> StackConfig:
        self.known(section, _VIGIE_KEYS, "vigie")
        changes: dict[str, Any] = {}
        monitoring = section.get("self_monitoring")
        if monitoring is not None:
            monitoring = self.mapping(monitoring, "vigie.self_monitoring", section)
            enabled = self.boolean(monitoring, "enabled", "vigie.self_monitoring", True)
            job = monitoring.get("job_name", "vigie")
            changes["self_monitoring_job"] = str(job) if enabled else None
        storage = section.get("storage")
        if storage is not None:
            storage = self.mapping(storage, "vigie.storage", section)
            if storage.get("retention_time") is not None:
                changes["retention_time"] = str(storage["retention_time"])
        if section.get("collectors") is not None:
            changes["collectors"] = self.collectors(section["collectors"], section)
        if section.get("rule_packs") is not None:
            changes.update(self.rule_packs(section["rule_packs"], section))
        if section.get("remote_write") is not None:
            entries = self.sequence(section["remote_write"], "vigie.remote_write", section)
            for index, entry in enumerate(entries):
                where = f"vigie.remote_write[{index}]"
                self.mapping(entry, where, entries, index)
                if not isinstance(entry.get("url"), str) or not entry["url"]:
                    raise self.fail(f"{where}.url", "missing", entry)
            changes["remote_write"] = tuple(plain(entry) for entry in entries)
        if section.get("stack") is not None:
            changes["stack"] = self.stack(self.mapping(section["stack"], "vigie.stack", section))
        return dataclasses.replace(config, **changes)

    def collectors(self, raw: Any, parent: LineDict) -> Collectors:
        section = self.mapping(raw, "vigie.collectors", parent, "collectors")
        self.known(section, {"host", "postgres", "container"}, "vigie.collectors")
        flags = {}
        for name in ("host", "container"):
            value = section.get(name)
            if isinstance(value, LineDict):
                flags[name] = self.boolean(value, "enabled", f"vigie.collectors.{name}", True)
            elif value is None or isinstance(value, bool):
                flags[name] = bool(value)
            else:
                raise self.fail(
                    f"vigie.collectors.{name}", "expected true, false or a mapping", section, name
                )
        targets: list[PostgresTarget] = []
        raw_pg = section.get("postgres")
        entries = (
            [raw_pg]
            if isinstance(raw_pg, LineDict)
            else self.sequence(raw_pg, "vigie.collectors.postgres", section)
        )
        for index, entry in enumerate(entries):
            where = f"vigie.collectors.postgres[{index}]"
            item = self.mapping(entry, where, section, "postgres")
            if not isinstance(item.get("url"), str) or not item["url"]:
                raise self.fail(f"{where}.url", "missing", item)
            name = str(item.get("name") or ("main" if len(entries) == 1 else ""))
            if not _NAME.match(name):
                raise self.fail(f"{where}.name", "required with several databases", item, "name")
            if any(target.name == name for target in targets):
                raise self.fail(f"{where}.name", f"{name!r} given twice", item, "name")
            if re.search(r"://[^/@]*:[^/@]*@", item["url"]):
                raise self.fail(
                    f"{where}.url", "must not contain a password (it goes in .env)", item, "url"
                )
            targets.append(PostgresTarget(name, item["url"]))
        return Collectors(flags["host"], tuple(targets), flags["container"])

    def rule_packs(self, raw: Any, parent: LineDict) -> dict[str, Any]:
        section = self.mapping(raw, "vigie.rule_packs", parent, "rule_packs")
        self.known(section, {"ai"}, "vigie.rule_packs")
        if section.get("ai") is None:
            return {}
        ai = section["ai"]
        if isinstance(ai, bool):
            return {"ai_pack": ai}
        ai = self.mapping(ai, "vigie.rule_packs.ai", section, "ai")
        self.known(ai, {"enabled", "thresholds"}, "vigie.rule_packs.ai")
        changes: dict[str, Any] = {
            "ai_pack": self.boolean(ai, "enabled", "vigie.rule_packs.ai", True)
        }
        if ai.get("thresholds") is not None:
            values = self.mapping(ai["thresholds"], "vigie.rule_packs.ai.thresholds", ai)
            try:
                changes["ai_thresholds"] = thresholds_from_mapping(plain(values))
            except (ValueError, TypeError) as error:
                raise self.fail("vigie.rule_packs.ai.thresholds", str(error), values) from None
        return changes

    def stack(self, section: LineDict) -> StackSettings:
        self.known(section, _STACK_KEYS, "vigie.stack")
        settings = StackSettings()
        if section.get("log_files") is not None:
            files = self.sequence(section["log_files"], "vigie.stack.log_files", section)
            for index, pattern in enumerate(files):
                if not isinstance(pattern, str) or not pattern.startswith("/"):
                    raise self.fail(
                        f"vigie.stack.log_files[{index}]", "expected an absolute path", files, index
                    )
            settings = dataclasses.replace(settings, log_files=tuple(files))
        if "log_agent" in section:
            agent = self.string(section, "log_agent", "vigie.stack", ("alloy", "promtail"))
            settings = dataclasses.replace(settings, log_agent=agent)
        if "traces" in section:
            traces = self.string(section, "traces", "vigie.stack", ("tempo", "otel-collector"))
            settings = dataclasses.replace(settings, traces=traces)
        if "runbook_url" in section:
            url = self.string(section, "runbook_url", "vigie.stack").rstrip("/")
            settings = dataclasses.replace(settings, runbook_url=url)
        if "grafana_url" in section:
            url = self.string(section, "grafana_url", "vigie.stack").rstrip("/")
            settings = dataclasses.replace(settings, grafana_url=url)
        if "prometheus_url" in section:
            url = self.string(section, "prometheus_url", "vigie.stack").rstrip("/")
            settings = dataclasses.replace(settings, prometheus_url=url)
        return settings
