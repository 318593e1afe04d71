"""Read and validate the server's configuration file (Prometheus syntax, plus a ``vigie:`` key).

The file is composed into YAML *nodes* rather than loaded into plain dicts, because nodes keep their
line numbers: every mistake is reported as ``FILE:LINE: FIELD: reason``. Unknown keys are errors
(a typo must not silently become a default); Prometheus keys vigie does not implement yet
(``relabel_configs``, ``kubernetes_sd_configs``, ...) are errors that say so, rather than being
ignored and changing what gets scraped.

Example::

    >>> config = parse_config("scrape_configs:\\n  - job_name: app\\n    scrape_interval: 5s\\n")
    >>> config.scrape_configs[0].scrape_interval_ms, config.scrape_configs[0].scrape_timeout_ms
    (5000, 5000)
    >>> parse_duration("1h30m")
    5400000
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from vigie.exceptions import ConfigurationError
from vigie.server.config_model import (
    AlertingConfig,
    AlertmanagerConfig,
    Authorization,
    Config,
    ExemplarsConfig,
    FileSDConfig,
    GlobalConfig,
    ScrapeConfig,
    SelfMonitoringSettings,
    StaticConfig,
    StorageSettings,
    TelemetrySettings,
    VigieSettings,
)
from vigie.server.relabel import ACTIONS, RelabelRule, compile_regex

__all__ = ["format_duration", "load_config", "parse_config", "parse_duration", "parse_size"]

_T = TypeVar("_T")

_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS = (
    365 * 86_400_000,
    7 * 86_400_000,
    86_400_000,
    3_600_000,
    60_000,
    1_000,
    1,
)
_SIZE = re.compile(r"^(\d+)(B|KB|MB|GB|TB|PB|EB)$")
_SIZE_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_SIZE_UNITS |= {"PB": 1 << 50, "EB": 1 << 60}
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_JOB_NAME_FORBIDDEN = re.compile(r"[\x00-\x1f]")

# Prometheus settings we recognise but do not implement: an error that says so beats a silent
# difference in what gets scraped or sent.
_NOT_SUPPORTED = frozenset(
    {
        "alert_relabel_configs",
        "oauth2",
        "tls_config",
        "proxy_url",
        "follow_redirects",
        "enable_http2",
        "kubernetes_sd_configs",
        "consul_sd_configs",
        "dns_sd_configs",
        "ec2_sd_configs",
        "http_sd_configs",
        "docker_sd_configs",
        "remote_write",
        "remote_read",
        "storage",
        "tracing",
        "target_limit",
        "body_size_limit",
        "native_histogram_bucket_limit",
        "scrape_classic_histograms",
        "scrape_protocols",
        "query_log_file",
        "scrape_config_files",
        "track_timestamps_staleness",
        "enable_compression",
        "keep_dropped_targets",
    }
)


def parse_duration(text: str) -> int:
    """Milliseconds in a Prometheus duration (``1h30m``, ``15s``, ``500ms``, ``0``).

    Raises ``ValueError`` for anything else, as Prometheus's ``model.ParseDuration`` does.
    """
    if text == "0":
        return 0
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"not a valid duration string: {text!r}")
    return sum(
        int(part) * unit for part, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if part
    )


def format_duration(milliseconds: int) -> str:
    """The shortest Prometheus spelling of a duration: ``90000`` -> ``1m30s``."""
    if milliseconds == 0:
        return "0s"
    out = []
    remaining = milliseconds
    for unit, name in zip(_DURATION_UNITS, ("y", "w", "d", "h", "m", "s", "ms"), strict=True):
        count, remaining = divmod(remaining, unit)
        if count:
            out.append(f"{count}{name}")
    return "".join(out)


def parse_size(text: str) -> int:
    """Bytes in a Prometheus size (``512MB``, ``1GB``; base 1024); ``0`` means unlimited."""
    if text == "0":
        return 0
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a valid size: {text!r} (expected e.g. 512MB, 10GB)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def load_config(path: str | Path) -> Config:
    """Read and validate the configuration file at ``path``.

    Raises :class:`~vigie.exceptions.ConfigurationError` naming the file, line and field.
    """
    location = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read: {error.strerror}", path=location) from None
    return parse_config(text, path=location, base_dir=str(Path(path).resolve().parent))


def parse_config(text: str, *, path: str | None = None, base_dir: str = ".") -> Config:
    """Validate configuration ``text``; ``path`` is only used in error messages."""
    reader = _Reader(path, base_dir)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigurationError(
            f"invalid YAML: {error.problem or error.context}", path=path, line=line
        ) from None
    except yaml.YAMLError as error:
        raise ConfigurationError(f"invalid YAML: {error}", path=path) from None
    if root is None or _is_null(root):
        return Config(path=path)
    return reader.config(root)


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


class _Reader:
    """Turns YAML nodes into config values, raising errors located at the offending node."""

    def __init__(self, path: str | None, base_dir: str) -> None:
        self.path = path
        self.base_dir = base_dir

    def fail(self, node: yaml.Node, field: str, message: str) -> ConfigurationError:
        return ConfigurationError(
            message, path=self.path, line=node.start_mark.line + 1, field=field or None
        )

    # -- generic shapes -------------------------------------------------------------------------

    def fields(
        self, node: yaml.Node, field: str, allowed: set[str]
    ) -> dict[str, tuple[yaml.Node, str]]:
        """A mapping's non-null values by key, each with its dotted field name."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, field, "expected a mapping")
        found: dict[str, tuple[yaml.Node, str]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            name = f"{field}.{key}" if field else key
            if key in found:
                raise self.fail(key_node, name, "field given twice")
            if key not in allowed:
                if key in _NOT_SUPPORTED:
                    raise self.fail(key_node, name, "not supported by vigie yet")
                raise self.fail(key_node, name, "unknown field")
            if not _is_null(value_node):
                found[key] = (value_node, name)
        return found

    def items(self, node: yaml.Node, field: str) -> list[tuple[yaml.Node, str]]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, field, "expected a list")
        return [(item, f"{field}[{index}]") for index, item in enumerate(node.value)]

    def scalar(self, node: yaml.Node, field: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, field, "expected a single value")
        return str(node.value)

    def string(self, node: yaml.Node, field: str) -> str:
        value = self.scalar(node, field)
        scalar_tags = ("tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
        if node.tag not in scalar_tags:
            raise self.fail(node, field, f"expected a string, got {value!r}")
        return value

    def strings(self, node: yaml.Node, field: str) -> tuple[str, ...]:
        return tuple(self.string(item, name) for item, name in self.items(node, field))

    def boolean(self, node: yaml.Node, field: str) -> bool:
        value = self.scalar(node, field)
        if node.tag != "tag:yaml.org,2002:bool":
            raise self.fail(node, field, f"expected true or false, got {value!r}")
        return value.lower() in ("true", "yes", "on")

    def integer(self, node: yaml.Node, field: str) -> int:
        value = self.scalar(node, field)
        if node.tag != "tag:yaml.org,2002:int" or int(value) < 0:
            raise self.fail(node, field, f"expected a non-negative integer, got {value!r}")
        return int(value)

    def converted(self, node: yaml.Node, field: str, convert: Callable[[str], _T]) -> _T:
        value = self.scalar(node, field)
        try:
            return convert(value)
        except ValueError as error:
            raise self.fail(node, field, str(error)) from None

    def duration(self, node: yaml.Node, field: str) -> int:
        return self.converted(node, field, parse_duration)

    def labels(self, node: yaml.Node, field: str) -> tuple[tuple[str, str], ...]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, field, "expected a mapping of label names to values")
        found: dict[str, str] = {}
        for key_node, value_node in node.value:
            name = self.scalar(key_node, field)
            where = f"{field}.{name}"
            if not _LABEL_NAME.match(name):
                raise self.fail(key_node, where, f"{name!r} is not a valid label name")
            if name in found:
                raise self.fail(key_node, where, "label given twice")
            found[name] = "" if _is_null(value_node) else self.string(value_node, where)
        return tuple(sorted(found.items()))

    # -- sections -------------------------------------------------------------------------------

    def config(self, root: yaml.Node) -> Config:
        sections = self.fields(
            root, "", {"global", "scrape_configs", "rule_files", "alerting", "vigie", "storage"}
        )
        global_config = GlobalConfig()
        if "global" in sections:
            global_config = self.global_config(*sections["global"])
        scrape_configs: list[ScrapeConfig] = []
        seen: dict[str, str] = {}
        if "scrape_configs" in sections:
            for item, name in self.items(*sections["scrape_configs"]):
                job = self.scrape_config(item, name, global_config)
                if job.job_name in seen:
                    raise self.fail(
                        item,
                        f"{name}.job_name",
                        f"found multiple scrape configs with job name "
                        f"{job.job_name!r} (first at {seen[job.job_name]})",
                    )
                seen[job.job_name] = name
                scrape_configs.append(job)
        rule_files: tuple[str, ...] = ()
        if "rule_files" in sections:
            rule_files = self.strings(*sections["rule_files"])
        alerting = AlertingConfig()
        if "alerting" in sections:
            alerting = self.alerting(*sections["alerting"])
        vigie = VigieSettings()
        if "vigie" in sections:
            vigie = self.vigie(*sections["vigie"])
        exemplars = ExemplarsConfig()
        if "storage" in sections:
            exemplars = self.exemplars(*sections["storage"])
        return Config(
            global_config=global_config,
            scrape_configs=tuple(scrape_configs),
            rule_files=rule_files,
            alerting=alerting,
            vigie=vigie,
            path=self.path,
            exemplars=exemplars,
        )

    def exemplars(self, node: yaml.Node, field: str) -> ExemplarsConfig:
        """Prometheus's ``storage`` section: only ``exemplars.max_exemplars`` is read."""
        parts = self.fields(node, field, {"exemplars", "tsdb"})
        if "tsdb" in parts:
            raise self.fail(*parts["tsdb"], "not supported by vigie yet")
        if "exemplars" not in parts:
            return ExemplarsConfig()
        values = self.fields(*parts["exemplars"], {"max_exemplars"})
        if "max_exemplars" not in values:
            return ExemplarsConfig()
        return ExemplarsConfig(self.integer(*values["max_exemplars"]))

    def global_config(self, node: yaml.Node, field: str) -> GlobalConfig:
        allowed = {"scrape_interval", "scrape_timeout", "evaluation_interval", "external_labels"}
        values = self.fields(node, field, allowed)
        defaults = GlobalConfig()
        interval = defaults.scrape_interval_ms
        if "scrape_interval" in values:
            interval = self.positive_duration(*values["scrape_interval"])
        timeout = min(defaults.scrape_timeout_ms, interval)
        if "scrape_timeout" in values:
            timeout = self.positive_duration(*values["scrape_timeout"])
            if timeout > interval:
                raise self.fail(
                    values["scrape_timeout"][0],
                    values["scrape_timeout"][1],
                    "global scrape timeout greater than scrape interval",
                )
        evaluation = defaults.evaluation_interval_ms
        if "evaluation_interval" in values:
            evaluation = self.positive_duration(*values["evaluation_interval"])
        external: tuple[tuple[str, str], ...] = ()
        if "external_labels" in values:
            external = self.labels(*values["external_labels"])
        return GlobalConfig(interval, timeout, evaluation, external)

    def positive_duration(self, node: yaml.Node, field: str) -> int:
        value = self.duration(node, field)
        if value <= 0:
            raise self.fail(node, field, "must be greater than zero")
        return value

    def scrape_config(self, node: yaml.Node, field: str, defaults: GlobalConfig) -> ScrapeConfig:
        allowed = {
            "job_name", "scrape_interval", "scrape_timeout", "metrics_path", "scheme", "params",
            "bearer_token", "bearer_token_file", "authorization", "basic_auth", "honor_labels",
            "honor_timestamps", "sample_limit", "label_limit", "label_name_length_limit",
            "label_value_length_limit", "static_configs", "file_sd_configs", "relabel_configs",
            "metric_relabel_configs",
        }  # fmt: skip
        values = self.fields(node, field, allowed)
        if "job_name" not in values:
            raise self.fail(node, f"{field}.job_name", "missing (every scrape config needs one)")
        job_name = self.string(*values["job_name"])
        if not job_name or _JOB_NAME_FORBIDDEN.search(job_name):
            raise self.fail(values["job_name"][0], values["job_name"][1], "invalid job name")
        interval = defaults.scrape_interval_ms
        if "scrape_interval" in values:
            interval = self.positive_duration(*values["scrape_interval"])
        timeout = min(defaults.scrape_timeout_ms, interval)
        if "scrape_timeout" in values:
            timeout = self.positive_duration(*values["scrape_timeout"])
            if timeout > interval:
                raise self.fail(
                    *values["scrape_timeout"],
                    f"scrape timeout greater than scrape interval for scrape config with job "
                    f"name {job_name!r}",
                )
        metrics_path = "/metrics"
        if "metrics_path" in values:
            metrics_path = self.string(*values["metrics_path"])
            if not metrics_path.startswith("/"):
                raise self.fail(*values["metrics_path"], "must start with '/'")
        scheme = "http"
        if "scheme" in values:
            scheme = self.string(*values["scheme"])
            if scheme not in ("http", "https"):
                raise self.fail(*values["scheme"], f"expected http or https, got {scheme!r}")
        params: tuple[tuple[str, tuple[str, ...]], ...] = ()
        if "params" in values:
            params = self.params(*values["params"])
        authorization = self.authorization(values)
        options: dict[str, Any] = {
            name: self.boolean(*values[name])
            for name in ("honor_labels", "honor_timestamps")
            if name in values
        }
        limits: dict[str, Any] = {
            name: self.integer(*values[name])
            for name in (
                "sample_limit",
                "label_limit",
                "label_name_length_limit",
                "label_value_length_limit",
            )
            if name in values
        }
        relabeling: dict[str, Any] = {
            name: self.relabel_configs(*values[name])
            for name in ("relabel_configs", "metric_relabel_configs")
            if name in values
        }
        # With relabel_configs, a target may be rewritten (blackbox URLs): checked after it.
        check = not relabeling.get("relabel_configs")
        static: tuple[StaticConfig, ...] = ()
        if "static_configs" in values:
            static = tuple(
                self.static_config(item, name, check_addresses=check)
                for item, name in self.items(*values["static_configs"])
            )
        file_sd: tuple[FileSDConfig, ...] = ()
        if "file_sd_configs" in values:
            file_sd = tuple(
                self.file_sd_config(item, name)
                for item, name in self.items(*values["file_sd_configs"])
            )
        return ScrapeConfig(
            job_name=job_name,
            scrape_interval_ms=interval,
            scrape_timeout_ms=timeout,
            metrics_path=metrics_path,
            scheme=scheme,
            params=params,
            authorization=authorization,
            static_configs=static,
            file_sd_configs=file_sd,
            **options,
            **limits,
            **relabeling,
        )

    def relabel_configs(self, node: yaml.Node, field: str) -> tuple[RelabelRule, ...]:
        """A list of relabel rules, validated as Prometheus's ``relabel.Config``."""
        keys = {"source_labels", "separator", "target_label", "regex", "modulus", "replacement",
                "action"}  # fmt: skip
        rules = []
        for item, name in self.items(node, field):
            values = self.fields(item, name, keys)
            action = "replace"
            if "action" in values:
                action = self.string(*values["action"]).lower()
                if action not in ACTIONS:
                    raise self.fail(*values["action"], f"unknown relabel action {action!r}")
            settings: dict[str, Any] = {"action": action}
            if "source_labels" in values:
                sources = self.strings(*values["source_labels"])
                for (label_node, label_field), label in zip(
                    self.items(*values["source_labels"]), sources, strict=True
                ):
                    if not _LABEL_NAME.match(label):
                        raise self.fail(
                            label_node, label_field, f"{label!r} is not a valid label name"
                        )
                settings["source_labels"] = sources
            for key in ("separator", "target_label", "replacement"):
                if key in values:
                    settings[key] = self.string(*values[key])
            if "regex" in values:
                pattern = self.string(*values["regex"])
                try:
                    settings["regex"] = compile_regex(pattern)
                except re.error as error:
                    raise self.fail(
                        *values["regex"], f"invalid regex {pattern!r}: {error}"
                    ) from None
            if "modulus" in values:
                settings["modulus"] = self.integer(*values["modulus"])
            self.check_relabel(item, name, action, settings, values)
            rules.append(RelabelRule(**settings))
        return tuple(rules)

    def check_relabel(
        self,
        node: yaml.Node,
        field: str,
        action: str,
        settings: dict[str, Any],
        values: dict[str, tuple[yaml.Node, str]],
    ) -> None:
        """The cross-field rules of Prometheus's ``relabel.Config.Validate``."""
        target = settings.get("target_label", "")
        needs_target = {"replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal"}
        if action in needs_target and not target:
            message = f"relabel configuration for {action} action requires 'target_label'"
            raise self.fail(node, f"{field}.target_label", message)
        if action == "replace" and "$" not in target and not _LABEL_NAME.match(target):
            raise self.fail(*values["target_label"], f"{target!r} is invalid 'target_label' for "
                            "replace action")  # fmt: skip
        if action == "hashmod" and not settings.get("modulus"):
            message = "relabel configuration for hashmod requires non-zero modulus"
            raise self.fail(node, f"{field}.modulus", message)
        if action in ("labeldrop", "labelkeep"):
            extra = sorted(set(values) - {"action", "regex"})
            if extra:
                raise self.fail(*values[extra[0]], f"{action} action requires only 'regex', and "
                                "no other fields")  # fmt: skip

    def params(self, node: yaml.Node, field: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, field, "expected a mapping of parameter names to lists")
        found = []
        for key_node, value_node in node.value:
            name = self.scalar(key_node, field)
            found.append((name, self.strings(value_node, f"{field}.{name}")))
        return tuple(found)

    def authorization(self, values: dict[str, tuple[yaml.Node, str]]) -> Authorization | None:
        given = [
            name
            for name in ("bearer_token", "bearer_token_file", "authorization", "basic_auth")
            if name in values
        ]
        if len(given) > 1:
            node, field = values[given[1]]
            raise self.fail(node, field, f"at most one of {', '.join(given)} may be set")
        if "bearer_token" in values:
            return Authorization("Bearer", credentials=self.string(*values["bearer_token"]))
        if "bearer_token_file" in values:
            path = self.resolve(self.string(*values["bearer_token_file"]))
            return Authorization("Bearer", credentials_file=path)
        if "basic_auth" in values:
            return self.basic_auth(*values["basic_auth"])
        if "authorization" not in values:
            return None
        node, field = values["authorization"]
        parts = self.fields(node, field, {"type", "credentials", "credentials_file"})
        kind = self.string(*parts["type"]) if "type" in parts else "Bearer"
        if kind.lower() == "basic":
            raise self.fail(parts["type"][0], f"{field}.type", "use basic_auth for Basic")
        if "credentials" in parts and "credentials_file" in parts:
            raise self.fail(node, field, "at most one of credentials, credentials_file")
        credentials = self.string(*parts["credentials"]) if "credentials" in parts else None
        credentials_file = None
        if "credentials_file" in parts:
            credentials_file = self.resolve(self.string(*parts["credentials_file"]))
        return Authorization(kind, credentials, credentials_file)

    def basic_auth(self, node: yaml.Node, field: str) -> Authorization:
        parts = self.fields(node, field, {"username", "password", "password_file"})
        if "username" not in parts:
            raise self.fail(node, f"{field}.username", "missing")
        if "password" in parts and "password_file" in parts:
            raise self.fail(node, field, "at most one of password, password_file")
        password = self.string(*parts["password"]) if "password" in parts else ""
        password_file = None
        if "password_file" in parts:
            password_file = self.resolve(self.string(*parts["password_file"]))
        username = self.string(*parts["username"])
        return Authorization("Basic", password, password_file, username=username)

    def resolve(self, path: str) -> str:
        """Relative paths in the file are relative to the file's folder, as in Prometheus."""
        return str(Path(self.base_dir, path)) if not Path(path).is_absolute() else path

    def static_config(
        self, node: yaml.Node, field: str, *, check_addresses: bool = True
    ) -> StaticConfig:
        values = self.fields(node, field, {"targets", "labels"})
        targets: tuple[str, ...] = ()
        if "targets" in values:
            targets = self.strings(*values["targets"])
            for (item, name), target in zip(self.items(*values["targets"]), targets, strict=True):
                if check_addresses and ("/" in target or not target):
                    raise self.fail(
                        item, name, f"{target!r} is not a valid target (expected host:port)"
                    )
        labels: tuple[tuple[str, str], ...] = ()
        if "labels" in values:
            labels = self.labels(*values["labels"])
        return StaticConfig(targets, labels)

    def file_sd_config(self, node: yaml.Node, field: str) -> FileSDConfig:
        values = self.fields(node, field, {"files", "refresh_interval"})
        if "files" not in values:
            raise self.fail(node, f"{field}.files", "missing")
        files = self.strings(*values["files"])
        for (item, name), pattern in zip(self.items(*values["files"]), files, strict=True):
            if not pattern.endswith((".json", ".yml", ".yaml")):
                raise self.fail(item, name, f"{pattern!r} must end in .json, .yml or .yaml")
        refresh = 300_000
        if "refresh_interval" in values:
            refresh = self.positive_duration(*values["refresh_interval"])
        return FileSDConfig(tuple(self.resolve(p) for p in files), refresh, self.base_dir)

    def alerting(self, node: yaml.Node, field: str) -> AlertingConfig:
        values = self.fields(node, field, {"alertmanagers"})
        if "alertmanagers" not in values:
            return AlertingConfig()
        managers = []
        allowed = {"static_configs", "scheme", "path_prefix", "timeout", "api_version"}
        for item, name in self.items(*values["alertmanagers"]):
            parts = self.fields(item, name, allowed)
            static: tuple[StaticConfig, ...] = ()
            if "static_configs" in parts:
                static = tuple(
                    self.static_config(entry, entry_name)
                    for entry, entry_name in self.items(*parts["static_configs"])
                )
            manager = AlertmanagerConfig(static_configs=static)
            if "scheme" in parts:
                manager = _replace(manager, scheme=self.string(*parts["scheme"]))
            if "path_prefix" in parts:
                manager = _replace(manager, path_prefix=self.string(*parts["path_prefix"]))
            if "timeout" in parts:
                manager = _replace(manager, timeout_ms=self.positive_duration(*parts["timeout"]))
            if "api_version" in parts:
                version = self.string(*parts["api_version"])
                if version != "v2":
                    raise self.fail(parts["api_version"][0], parts["api_version"][1],
                                    f"only v2 is supported, got {version!r}")  # fmt: skip
                manager = _replace(manager, api_version=version)
            managers.append(manager)
        return AlertingConfig(tuple(managers))

    def vigie(self, node: yaml.Node, field: str) -> VigieSettings:
        from vigie.server.alerting_config import SECTIONS, alerting_sections

        # remote_write and stack are read by `vigie stack export` only (the production path).
        keys = {"storage", "self_monitoring", "collectors", "telemetry", "security", "query"}
        keys |= SECTIONS
        keys |= {"remote_write", "stack"}
        values = self.fields(node, field, keys)
        storage = StorageSettings()
        if "storage" in values:
            parts = self.fields(*values["storage"], {"retention_time", "retention_size"})
            if "retention_time" in parts:
                storage = _replace(
                    storage, retention_time_ms=self.duration(*parts["retention_time"])
                )
            if "retention_size" in parts:
                size = self.converted(*parts["retention_size"], parse_size)
                storage = _replace(storage, retention_size_bytes=size)
        monitoring = SelfMonitoringSettings()
        if "self_monitoring" in values:
            parts = self.fields(
                *values["self_monitoring"], {"enabled", "job_name", "scrape_interval"}
            )
            if "enabled" in parts:
                monitoring = _replace(monitoring, enabled=self.boolean(*parts["enabled"]))
            if "job_name" in parts:
                monitoring = _replace(monitoring, job_name=self.string(*parts["job_name"]))
            if "scrape_interval" in parts:
                interval = self.positive_duration(*parts["scrape_interval"])
                monitoring = _replace(monitoring, scrape_interval_ms=interval)
        collectors = None
        if "collectors" in values:
            collectors = self.collectors(values["collectors"][0])
        telemetry = TelemetrySettings()
        if "telemetry" in values:
            telemetry = self.telemetry(*values["telemetry"])
        extra = alerting_sections(self, values)
        if "security" in values:
            from vigie.server.security import security_settings

            extra["security"] = security_settings(self, *values["security"])
        if "query" in values:
            from vigie.server.query_limits import query_settings

            extra["query"] = query_settings(self, *values["query"])
        return VigieSettings(storage, monitoring, collectors, telemetry, **extra)

    def telemetry(self, node: yaml.Node, field: str) -> TelemetrySettings:
        keys = {"enabled", "retention_time", "retention_size", "queue_size", "max_body_size",
                "tail"}  # fmt: skip
        parts = self.fields(node, field, keys)
        settings = TelemetrySettings()
        if "enabled" in parts:
            settings = _replace(settings, enabled=self.boolean(*parts["enabled"]))
        if "retention_time" in parts:
            age = self.positive_duration(*parts["retention_time"])
            settings = _replace(settings, retention_time_ms=age)
        for key, attribute in (("retention_size", "retention_size_bytes"),
                               ("max_body_size", "max_body_size_bytes")):  # fmt: skip
            if key in parts:
                size = self.converted(*parts[key], parse_size)
                settings = _replace(settings, **{attribute: size})
        if "queue_size" in parts:
            settings = _replace(settings, queue_size=self.integer(*parts["queue_size"]))
        if "tail" in parts:
            tail = self.fields(*parts["tail"], {"paths", "service", "interval"})
            if "paths" in tail:
                paths = tuple(self.resolve(p) for p in self.strings(*tail["paths"]))
                settings = _replace(settings, tail_paths=paths)
            if "service" in tail:
                settings = _replace(settings, tail_service=self.string(*tail["service"]))
            if "interval" in tail:
                interval = self.positive_duration(*tail["interval"])
                settings = _replace(settings, tail_interval_ms=interval)
        return settings

    def collectors(self, node: yaml.Node) -> dict[str, Any]:
        """The built-in collectors' section, checked by their own validation, errors located."""
        from vigie.server.collectors import build_collectors

        raw = yaml.safe_load(yaml.serialize(node))
        try:
            build_collectors(raw)
        except ConfigurationError as error:
            field = error.field or "collectors"
            raise self.fail(_locate(node, field), f"vigie.{field}", error.message) from None
        return dict(raw) if isinstance(raw, dict) else {}


def _locate(section: yaml.Node, field: str) -> yaml.Node:
    """The deepest node of ``section`` along ``field`` (``collectors.postgres[1].url``)."""
    node = section
    for part in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", "." + field.split(".", 1)[-1])[0:]:
        key, index = part
        if isinstance(node, yaml.MappingNode) and key:
            found = [value for name, value in node.value if getattr(name, "value", None) == key]
            if not found:
                break
            node = found[0]
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
        else:
            break
    return node


def _replace(value: _T, **changes: object) -> _T:
    import dataclasses

    return dataclasses.replace(value, **changes)  # type: ignore[type-var]
