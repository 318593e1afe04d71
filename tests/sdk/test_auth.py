"""Authentication failures by reason, with no personal data in labels."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import vigie
from vigie.exceptions import InstrumentationError
from vigie.sdk.auth import AUTH_FAILURE_REASONS, record_auth_failure


def _failures(registry: CollectorRegistry, reason: str) -> float | None:
    return registry.get_sample_value("vigie_auth_failures_total", {"reason": reason})


def test_known_reasons_are_counted_exactly(registry: CollectorRegistry) -> None:
    """Three bad passwords and one expired token give 3 and 1."""
    for _ in range(3):
        vigie.record_auth_failure("bad_password", registry=registry)
    record_auth_failure("expired_token", registry=registry)
    assert _failures(registry, "bad_password") == 3
    assert _failures(registry, "expired_token") == 1
    assert _failures(registry, "other") is None


def test_unknown_reasons_become_other_and_never_reach_labels(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """A user name, an IP or a non-string is counted as `other`; the value is not logged."""
    with caplog.at_level(logging.WARNING, logger="vigie"):
        record_auth_failure("alice@example.com", registry=registry)
        record_auth_failure("203.0.113.7", registry=registry)
        record_auth_failure(None, registry=registry)  # type: ignore[arg-type]
        record_auth_failure("Bad_Password", registry=registry)  # reasons are exact words
    assert _failures(registry, "other") == 4
    exposition = generate_latest(registry).decode()
    for secret in ("alice", "203.0.113.7"):
        assert secret not in exposition
        assert secret not in caplog.text


def test_every_reason_is_a_label_friendly_word() -> None:
    """The allow-list holds lower-case snake_case words and includes `other`."""
    assert "other" in AUTH_FAILURE_REASONS
    assert {"bad_password", "expired_token", "unknown_user"} <= AUTH_FAILURE_REASONS
    assert all(
        reason.replace("_", "").isalpha() and reason.islower() for reason in AUTH_FAILURE_REASONS
    )


def test_bad_registry_is_refused(registry: CollectorRegistry) -> None:
    """A registry that is not a CollectorRegistry raises InstrumentationError at once."""
    with pytest.raises(InstrumentationError):
        record_auth_failure("bad_password", registry="nope")  # type: ignore[arg-type]
