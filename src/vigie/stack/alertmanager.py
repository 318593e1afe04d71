"""``alertmanager.yml`` for the exported stack, from the routing file vigie already uses.

vigie's routing file *is* Alertmanager's format, so ``global``, ``route``, ``inhibit_rules``,
``time_intervals`` and ``mute_time_intervals`` are exported as written, after the file passed
vigie's own validation (:func:`vigie.notify.config.parse_routing_config`, errors with file and
line). Receivers keep their native configs; ``apprise_configs`` become native configs where one
exists (:mod:`vigie.stack.receivers`) and are reported otherwise.

Without a routing file the export still routes: one receiver ``default`` with no integration
(Alertmanager keeps the alerts and shows them, sends nothing) and a warning that says so, plus
the critical-mutes-warning inhibition the AI pack is designed for.

Example::

    >>> document, warnings = alertmanager_config(None)
    >>> document["route"]["receiver"], warnings[0][:36]
    ('default', 'no routing file given: alerts are ro')
"""

from __future__ import annotations

from typing import Any

from vigie.notify.config import parse_routing_config
from vigie.stack.config import plain
from vigie.stack.receivers import native_config
from vigie.yaml_source import load_yaml

__all__ = ["DEFAULT_INHIBITION", "alertmanager_config"]

#: Mute an alert's warning while its critical fires (the AI pack escalates under one name).
DEFAULT_INHIBITION = {
    "source_matchers": ['severity="critical"'],
    "target_matchers": ['severity="warning"'],
    "equal": ["alertname", "job"],
}
_NATIVE_ORDER = (
    "discord_configs",
    "email_configs",
    "msteams_configs",
    "slack_configs",
    "telegram_configs",
    "webhook_configs",
)


def alertmanager_config(
    routing_text: str | None, *, source: str = "<string>"
) -> tuple[dict[str, Any], list[str]]:
    """The ``alertmanager.yml`` document and the warnings of the mapping."""
    if routing_text is None:
        fallback: dict[str, Any] = {
            "route": {
                "receiver": "default",
                "group_by": ["alertname", "job"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
            },
            "inhibit_rules": [DEFAULT_INHIBITION],
            "receivers": [{"name": "default"}],
        }
        warning = (
            "no routing file given: alerts are routed to receiver 'default', which sends nothing; "
            "pass --routing alertmanager.yml to export your receivers"
        )
        return fallback, [warning]
    parse_routing_config(routing_text, source=source)  # vigie's validation, located errors
    raw = plain(load_yaml(routing_text, source=source)) or {}
    warnings: list[str] = []
    document: dict[str, Any] = {}
    for key in ("global", "templates", "route", "inhibit_rules", "receivers", "time_intervals",
                "mute_time_intervals"):  # fmt: skip
        if key not in raw:
            continue
        if key == "receivers":
            document[key] = [_receiver(item, warnings) for item in raw[key] or []]
        else:
            document[key] = raw[key]
    if "templates" in document:
        warnings.append(
            "templates: the template files are not copied; mount them into the Alertmanager "
            "container at the same paths"
        )
    return document, warnings


def _receiver(raw: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    receiver = {key: value for key, value in raw.items() if key != "apprise_configs"}
    for config in raw.get("apprise_configs") or []:
        urls = config.get("urls")
        for url in urls if isinstance(urls, list) else [urls]:
            mapped = native_config(str(url))
            scheme = str(url).split("://", 1)[0]
            if mapped is None:
                warnings.append(
                    f"receiver {raw['name']!r}: apprise URL scheme {scheme}:// has no Alertmanager "
                    "equivalent and is NOT exported; alerts routed there will not reach it"
                )
                continue
            key, settings = mapped
            if "send_resolved" in config:
                settings["send_resolved"] = bool(config["send_resolved"])
            receiver.setdefault(key, []).append(settings)
    ordered = {"name": receiver.pop("name")}
    for key in _NATIVE_ORDER:
        if key in receiver:
            ordered[key] = receiver.pop(key)
    ordered.update(receiver)
    return ordered
