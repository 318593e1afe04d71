"""Inputs the fuzz tests once found escaping as untyped exceptions, kept as regression tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vigie.exceptions import RoutingConfigError, VigieError
from vigie.notify.config import parse_routing_config
from vigie.notify.silences import Silence
from vigie.rules.rule_file import parse_rule_text

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_rule_file_with_a_control_character() -> None:
    """A control character in a rule file is reported as a located RuleFileError."""
    _, errors = parse_rule_text("\x08", "rules.yml")
    assert errors
    assert "rules.yml" in str(errors[0])


def test_routing_config_with_a_control_character() -> None:
    """A control character in a routing file is a RoutingConfigError/ConfigurationError."""
    with pytest.raises(VigieError):
        parse_routing_config("\x1f", source="alertmanager.yml")


@pytest.mark.parametrize("field", ["match: 1", "match_re: 1", "group_by: 1"])
def test_routing_config_with_wrong_shapes(field: str) -> None:
    """A scalar where a mapping or a list is expected names the field."""
    with pytest.raises(RoutingConfigError):
        parse_routing_config(f"receivers: [{{name: a}}]\nroute:\n  receiver: a\n  {field}\n")


@pytest.mark.parametrize(
    "raw",
    [
        {"matchers": {"": None}, "endsAt": "2026-01-02T00:00:00Z"},
        {"matchers": ["alertname"], "endsAt": "2026-01-02T00:00:00Z"},
        {"matchers": [], "endsAt": None},
    ],
)
def test_silence_bodies_with_wrong_shapes(raw: dict[str, object]) -> None:
    """A malformed PostableSilence is a RoutingConfigError (HTTP 400), not a crash."""
    with pytest.raises(RoutingConfigError):
        Silence.from_api(raw, NOW)
