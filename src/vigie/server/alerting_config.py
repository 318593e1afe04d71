"""The ``vigie.alerting``, ``vigie.rule_packs`` and ``vigie.quality`` sections of the config.

Read by :mod:`vigie.server.config` with the same located errors (``file:line: field: ...``).
The routing is Alertmanager's format, either in its own file (``routing_file``, relative to
the config file) or inline (``routing``); it is validated by :mod:`vigie.notify.config`, and
an inline routing's errors carry the line numbers of the config file itself.

Example (``vigie.yml``)::

    vigie:
      alerting:
        routing_file: alertmanager.yml
        external_url: http://vigie.example.org:9800
      rule_packs:
        ai: {enabled: true, thresholds: {http_error_ratio: [0.02, 0.05]}}
      quality: {enabled: true, check_interval: 1m}
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vigie.exceptions import ConfigurationError, RoutingConfigError
from vigie.notify.config import RoutingConfig, load_routing_config, parse_routing_config
from vigie.rules.packs.ai import thresholds_from_mapping
from vigie.server.config_model import AIPackSettings, AlertingSettings, QualitySettings

if TYPE_CHECKING:
    from vigie.server.config import _Reader

__all__ = ["SECTIONS", "alerting_sections"]

#: The keys of ``vigie:`` this module reads.
SECTIONS = frozenset({"alerting", "rule_packs", "quality"})

Values = dict[str, tuple[yaml.Node, str]]


def alerting_sections(reader: _Reader, values: Values) -> dict[str, Any]:
    """Keyword arguments of :class:`VigieSettings` for the sections present in ``values``."""
    found: dict[str, Any] = {}
    if "alerting" in values:
        found["alerting"] = _alerting(reader, *values["alerting"])
    if "rule_packs" in values:
        packs = reader.fields(*values["rule_packs"], {"ai"})
        if "ai" in packs:
            found["ai_pack"] = _ai_pack(reader, *packs["ai"])
    if "quality" in values:
        parts = reader.fields(*values["quality"], {"enabled", "check_interval"})
        quality = QualitySettings()
        if "enabled" in parts:
            quality = QualitySettings(reader.boolean(*parts["enabled"]), quality.check_interval_ms)
        if "check_interval" in parts:
            interval = reader.positive_duration(*parts["check_interval"])
            quality = QualitySettings(quality.enabled, interval)
        found["quality"] = quality
    return found


def _alerting(reader: _Reader, node: yaml.Node, field: str) -> AlertingSettings:
    keys = {"routing_file", "routing", "external_url", "retry"}
    parts = reader.fields(node, field, keys)
    if "routing_file" in parts and "routing" in parts:
        raise reader.fail(parts["routing"][0], parts["routing"][1],
                          "give routing_file or routing, not both")  # fmt: skip
    routing: RoutingConfig | None = None
    if "routing_file" in parts:
        file_node, file_field = parts["routing_file"]
        path = reader.resolve(reader.string(file_node, file_field))
        if not Path(path).is_file():
            raise reader.fail(file_node, file_field, f"no such file {path!r}")
        try:
            routing = load_routing_config(path)
        except RoutingConfigError as error:
            # A template file's error names that file, not the routing file.
            where = error.source if error.source and error.source != "<string>" else path
            raise ConfigurationError(error.message, path=where, line=error.line) from None
    if "routing" in parts:
        routing = _inline_routing(reader, *parts["routing"])
    external_url = ""
    if "external_url" in parts:
        external_url = reader.string(*parts["external_url"]).rstrip("/")
        if not external_url.startswith(("http://", "https://")):
            url_node, url_field = parts["external_url"]
            raise reader.fail(url_node, url_field, f"expected an http(s) URL, got {external_url!r}")
    settings = AlertingSettings(routing=routing, external_url=external_url)
    if "retry" in parts:
        retry = reader.fields(*parts["retry"], {"initial_backoff", "max_backoff", "give_up_after"})
        durations = {
            key: reader.positive_duration(*retry[key])
            for key in ("initial_backoff", "max_backoff", "give_up_after")
            if key in retry
        }
        settings = AlertingSettings(
            routing=routing,
            external_url=external_url,
            retry_initial_ms=durations.get("initial_backoff", settings.retry_initial_ms),
            retry_max_ms=durations.get("max_backoff", settings.retry_max_ms),
            retry_give_up_ms=durations.get("give_up_after", settings.retry_give_up_ms),
        )
    return settings


def _inline_routing(reader: _Reader, node: yaml.Node, field: str) -> RoutingConfig:
    """Parse the section's own text, padded so that error lines are the config file's lines."""
    if not isinstance(node, yaml.MappingNode):
        raise reader.fail(node, field, "expected a mapping (Alertmanager configuration)")
    start, end = node.start_mark, node.end_mark
    if isinstance(start.buffer, str) and start.index < end.index:
        text = "\n" * start.line + " " * start.column + start.buffer[start.index : end.index]
        text = text.rstrip("\0")
    else:  # no source text kept: re-serialise (lines then count from the section)
        text = yaml.serialize(node)
    source = reader.path or "<config>"
    try:
        return parse_routing_config(text, source=source)
    except RoutingConfigError as error:
        if error.source and error.source != source:  # in a template file
            raise ConfigurationError(error.message, path=error.source, line=error.line) from None
        raise ConfigurationError(error.message, path=reader.path, line=error.line,
                                 field=field) from None  # fmt: skip


def _ai_pack(reader: _Reader, node: yaml.Node, field: str) -> AIPackSettings:
    parts = reader.fields(node, field, {"enabled", "thresholds", "for_scale", "time_scale"})
    settings = AIPackSettings()
    enabled = reader.boolean(*parts["enabled"]) if "enabled" in parts else True
    thresholds = settings.thresholds
    if "thresholds" in parts:
        threshold_node, threshold_field = parts["thresholds"]
        if not isinstance(threshold_node, yaml.MappingNode):
            raise reader.fail(threshold_node, threshold_field, "expected a mapping")
        raw = yaml.safe_load(yaml.serialize(threshold_node)) or {}
        for key_node, value_node in threshold_node.value:
            name = f"{threshold_field}.{key_node.value}"
            value = raw.get(key_node.value)
            if not _threshold_value_ok(value):
                raise reader.fail(value_node, name, f"expected a number or [warning, critical], "
                                  f"got {value!r}")  # fmt: skip
            try:
                thresholds_from_mapping({key_node.value: value})
            except (ValueError, TypeError) as error:
                raise reader.fail(key_node, name, str(error)) from None
        thresholds = thresholds_from_mapping(raw)
    for_scale = settings.for_scale
    if "for_scale" in parts:
        scale_node, scale_field = parts["for_scale"]
        for_scale = reader.converted(scale_node, scale_field, float)
        if not 0 < for_scale <= 1000:
            raise reader.fail(scale_node, scale_field, f"expected a number > 0, got {for_scale}")
    time_scale = settings.time_scale
    if "time_scale" in parts:
        time_node, time_field = parts["time_scale"]
        time_scale = reader.converted(time_node, time_field, float)
        if not 1 <= time_scale <= 1000:
            raise reader.fail(
                time_node, time_field, f"expected a number from 1 to 1000, got {time_scale}"
            )
    return AIPackSettings(
        enabled=enabled, thresholds=thresholds, for_scale=for_scale, time_scale=time_scale
    )


def _threshold_value_ok(value: object) -> bool:
    def number(item: object) -> bool:
        return isinstance(item, int | float) and not isinstance(item, bool)

    if isinstance(value, list):
        return len(value) == 2 and all(number(item) for item in value)
    return number(value) or isinstance(value, str)
