"""Grafana alerting provisioning: the same alert rules and contact points, for teams that alert
from Grafana instead of Alertmanager.

Exported under ``grafana/alerting/`` and *not* mounted by default: alerting from both Grafana and
Alertmanager would notify twice. To switch, mount the folder at
``/etc/grafana/provisioning/alerting`` and remove ``alerting`` from ``prometheus.yml``.

Each Prometheus alerting rule becomes a Grafana-managed rule with two steps: query ``A`` runs the
rule's expression as ``(EXPR) * 0 + 1`` (every series the expression returns, labels kept, value
1) and threshold ``C`` fires on ``A > 0``; no data means no alert, as in Prometheus. Recording
rules stay in Prometheus (the alert expressions use them). Receivers become contact points of the
same name, the route tree a notification policy tree, time intervals mute timings.

Example::

    >>> groups = alert_rule_groups({"rules/a.yml": "groups:\\n- name: g\\n  rules:\\n"
    ...                             "  - alert: Down\\n    expr: up == 0\\n    for: 1m\\n"})
    >>> rule = groups["groups"][0]["rules"][0]
    >>> rule["title"], rule["for"], rule["data"][0]["model"]["expr"]
    ('Down', '1m', '(up == 0) * 0 + 1')
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

__all__ = ["alert_rule_groups", "contact_points", "mute_timings", "notification_policies"]

_CONTACT_TYPES = {
    "webhook_configs": ("webhook", {"url": "url"}),
    "discord_configs": ("discord", {"webhook_url": "url"}),
    "slack_configs": ("slack", {"api_url": "url", "channel": "recipient"}),
    "msteams_configs": ("teams", {"webhook_url": "url"}),
    "telegram_configs": ("telegram", {"bot_token": "bottoken", "chat_id": "chatid"}),
    "email_configs": ("email", {"to": "addresses"}),
}


def _uid(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:20]


def alert_rule_groups(rule_files: dict[str, str], runbook_url: str | None = None) -> dict[str, Any]:
    """``grafana/alerting/rules.yml`` from the exported Prometheus rule files."""
    groups = []
    for path, text in sorted(rule_files.items()):
        document = yaml.safe_load(text) or {}
        for group in document.get("groups") or []:
            rules = []
            for index, rule in enumerate(group.get("rules") or []):
                if "alert" not in rule:
                    continue
                rules.append(_rule(path, group["name"], index, rule, runbook_url))
            if rules:
                groups.append(
                    {
                        "orgId": 1,
                        "name": group["name"],
                        "folder": "vigie",
                        "interval": group.get("interval", "1m"),
                        "rules": rules,
                    }
                )
    return {"apiVersion": 1, "groups": groups}


def _rule(
    path: str, group: str, index: int, rule: dict[str, Any], runbook_url: str | None
) -> dict[str, Any]:
    annotations = dict(rule.get("annotations") or {})
    if runbook_url and "runbook_url" in annotations:
        # Grafana has no $externalURL: point at where the runbooks are published.
        annotations["runbook_url"] = f"{runbook_url}/{rule['alert']}"
    model_a = {"refId": "A", "expr": f"({rule['expr'].strip()}) * 0 + 1", "instant": True}
    model_c = {
        "refId": "C",
        "type": "threshold",
        "expression": "A",
        "conditions": [{"evaluator": {"type": "gt", "params": [0]}}],
    }
    return {
        "uid": _uid(path, group, str(index)),
        "title": rule["alert"],
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": 600, "to": 0},
                "datasourceUid": "prometheus",
                "model": model_a,
            },
            {"refId": "C", "datasourceUid": "__expr__", "model": model_c},
        ],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": rule.get("for", "0s"),
        "labels": dict(rule.get("labels") or {}),
        "annotations": annotations,
    }


def contact_points(alertmanager: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``grafana/alerting/contact-points.yml`` from the exported ``alertmanager.yml``."""
    points = []
    warnings = []
    for receiver in alertmanager.get("receivers") or []:
        integrations = []
        for key, (kind, names) in _CONTACT_TYPES.items():
            for index, config in enumerate(receiver.get(key) or []):
                settings = {names[name]: config[name] for name in names if name in config}
                if kind == "email" and "addresses" in settings:
                    settings["addresses"] = str(settings["addresses"]).replace(",", ";")
                integrations.append(
                    {
                        "uid": _uid(receiver["name"], key, str(index)),
                        "type": kind,
                        "settings": settings,
                        "disableResolveMessage": not config.get("send_resolved", True),
                    }
                )
        if not integrations:
            warnings.append(
                f"receiver {receiver['name']!r} has no integration: no Grafana contact point"
            )
            continue
        points.append({"orgId": 1, "name": receiver["name"], "receivers": integrations})
    return {"apiVersion": 1, "contactPoints": points}, warnings


def notification_policies(alertmanager: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """``grafana/alerting/policies.yml``: the route tree, for contact points in ``known``."""
    route = alertmanager.get("route") or {}

    def convert(node: dict[str, Any]) -> dict[str, Any]:
        policy: dict[str, Any] = {}
        if node.get("receiver") in known:
            policy["receiver"] = node["receiver"]
        for key in ("group_by", "group_wait", "group_interval", "repeat_interval", "continue",
                    "mute_time_intervals", "active_time_intervals"):  # fmt: skip
            if key in node:
                policy[key] = node[key]
        matchers = list(node.get("matchers") or [])
        matchers += [f'{name}="{value}"' for name, value in (node.get("match") or {}).items()]
        matchers += [f'{name}=~"{value}"' for name, value in (node.get("match_re") or {}).items()]
        if matchers:
            policy["object_matchers"] = [_object_matcher(text) for text in matchers]
        if node.get("routes"):
            policy["routes"] = [convert(child) for child in node["routes"]]
        return policy

    root = convert(route)
    root.setdefault("receiver", sorted(known)[0] if known else "grafana-default-email")
    return {"apiVersion": 1, "policies": [{"orgId": 1, **root}]}


def mute_timings(alertmanager: dict[str, Any]) -> dict[str, Any]:
    """``grafana/alerting/mute-timings.yml``: Alertmanager's time intervals, same fields."""
    intervals = [
        *(alertmanager.get("time_intervals") or []),
        *(alertmanager.get("mute_time_intervals") or []),
    ]
    return {
        "apiVersion": 1,
        "muteTimes": [
            {"orgId": 1, "name": item["name"], "time_intervals": item.get("time_intervals") or []}
            for item in intervals
        ],
    }


def _object_matcher(text: str) -> list[str]:
    for operator in ("=~", "!~", "!=", "="):
        name, found, value = text.partition(operator)
        if found:
            return [name.strip(), operator, value.strip().strip('"')]
    return [text, "=", ""]
