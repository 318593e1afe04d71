"""Grafana alerting provisioning: the same rules, contact points, policies and mute timings."""

from __future__ import annotations

from pathlib import Path

import yaml

from vigie.stack import build_stack, load_stack_config


def _files(sample: Path) -> dict[str, object]:
    routing = (sample / "alertmanager.yml").read_text(encoding="utf-8")
    stack = build_stack(load_stack_config(sample / "vigie.yml"), routing)
    return {
        path.rsplit("/", 1)[-1]: yaml.safe_load(text)
        for path, text in stack.files.items()
        if path.startswith("grafana/alerting/")
    }


def test_every_prometheus_alert_becomes_a_grafana_rule(sample: Path) -> None:
    """Same alert names, labels, for and annotations; the condition keeps the labels."""
    files = _files(sample)
    rules = [rule for group in files["rules.yml"]["groups"] for rule in group["rules"]]  # type: ignore[index]
    titles = [rule["title"] for rule in rules]
    assert titles.count("HTTPErrorRatioHigh") == 2
    assert "AppSlow" in titles
    down = next(rule for rule in rules if rule["title"] == "TargetDown")
    assert down["for"] == "1m"
    assert down["labels"] == {"severity": "critical"}
    assert down["data"][0]["model"]["expr"] == "(up == 0) * 0 + 1"
    assert down["data"][1]["model"]["conditions"][0]["evaluator"] == {"type": "gt", "params": [0]}
    assert down["noDataState"] == "OK"
    assert len({rule["uid"] for rule in rules}) == len(rules)


def test_contact_points_policies_and_mute_timings(sample: Path) -> None:
    """Receivers become contact points; the route tree a policy tree; intervals mute timings."""
    files = _files(sample)
    points = {item["name"]: item for item in files["contact-points.yml"]["contactPoints"]}  # type: ignore[index]
    assert [r["type"] for r in points["oncall"]["receivers"]] == ["discord", "telegram"]
    assert points["team"]["receivers"][0]["settings"] == {"url": "http://127.0.0.1:5001/hook"}
    policy = files["policies.yml"]["policies"][0]  # type: ignore[index]
    assert policy["receiver"] == "team"
    assert policy["routes"][0]["object_matchers"] == [["alertname", "=", "Watchdog"]]
    assert policy["routes"][1]["continue"] is True
    timing = files["mute-timings.yml"]["muteTimes"][0]  # type: ignore[index]
    assert timing["name"] == "nights"
    assert timing["time_intervals"] == [{"times": [{"start_time": "22:00", "end_time": "23:59"}]}]


def test_rules_and_contact_points_fit_the_sdk_types(sample: Path) -> None:
    """Rule queries round-trip through the SDK's alerting Query; contact types are Grafana's."""
    import json
    import typing

    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models import alerting

    register_default_plugins()
    files = _files(sample)
    for group in files["rules.yml"]["groups"]:  # type: ignore[index]
        for rule in group["rules"]:
            for query in rule["data"]:
                typed = alerting.Query.from_json(query)
                assert json.loads(json.dumps(typed, cls=JSONEncoder)) == query
    kinds = typing.get_args(typing.get_type_hints(alerting.ContactPoint)["type_val"])
    for point in files["contact-points.yml"]["contactPoints"]:  # type: ignore[index]
        for receiver in point["receivers"]:
            assert receiver["type"] in kinds
