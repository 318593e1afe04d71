"""The SDK never breaks the host app: internal errors are logged once and swallowed."""

from __future__ import annotations

import logging

import pytest

from vigie.sdk.failsafe import failsafe, guard, swallowing_internal_errors


def test_errors_reraise_under_pytest() -> None:
    """Our own tests see internal errors loudly."""
    with pytest.raises(ZeroDivisionError), guard("division"):
        _ = 1 / 0


def test_errors_are_logged_once_and_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    """Outside tests, an error is logged once on vigie.internal and the default is returned."""

    @failsafe(default=-1)
    def broken() -> int:
        raise ValueError("bug in vigie")

    with caplog.at_level(logging.ERROR, logger="vigie.internal"), swallowing_internal_errors():
        assert broken() == -1
        assert broken() == -1
    records = [record for record in caplog.records if record.name == "vigie.internal"]
    assert len(records) == 1
    assert "broken" in records[0].getMessage()


def test_success_passes_through() -> None:
    """Without an error, the wrapped value comes back."""
    assert failsafe(default=0)(lambda: 5)() == 5
