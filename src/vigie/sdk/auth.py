"""Authentication failures counted by reason, for apps that authenticate in their own code.

A brute-force storm or a wave of expired tokens shows as a rising rate of failures long before a
user complains. :func:`record_auth_failure` counts one failure under a *reason* taken from a
fixed allow-list (anything else becomes ``other``): never the user name, the e-mail, the IP
address or the token, which would leak personal data into every dashboard and multiply series.

Responses with status 401 or 403 are already counted per route by the HTTP middleware: use
``http_server_request_duration_seconds_count{http_response_status_code=~"401|403"}`` for those.

Metric:

================================ ======= ==========================================================
name                             type    labels
================================ ======= ==========================================================
``vigie_auth_failures_total``    counter ``reason``: one of :data:`AUTH_FAILURE_REASONS`
================================ ======= ==========================================================

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> record_auth_failure("bad_password", registry=registry)
    >>> record_auth_failure("alice@example.com", registry=registry)   # not a reason: "other"
    >>> registry.get_sample_value("vigie_auth_failures_total", {"reason": "other"})
    1.0
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry

from vigie.exceptions import InstrumentationError
from vigie.sdk import instruments
from vigie.sdk.failsafe import guard

__all__ = ["AUTH_FAILURE_REASONS", "record_auth_failure"]

logger = logging.getLogger("vigie")

#: The reasons kept as they are; any other value is recorded as ``other``.
AUTH_FAILURE_REASONS: frozenset[str] = frozenset(
    {
        "bad_password",  # the user exists, the password is wrong
        "unknown_user",  # no such user or e-mail
        "expired_token",  # a session, JWT or reset token past its expiry
        "invalid_token",  # a token that does not verify (signature, format, audience)
        "revoked_token",  # a token or session revoked or logged out
        "invalid_api_key",  # an API key that does not exist or is disabled
        "missing_credentials",  # nothing presented where something was required
        "locked_account",  # the account is locked or disabled
        "mfa_failed",  # the second factor was wrong or timed out
        "forbidden",  # authenticated, but not allowed (authorization)
        "rate_limited",  # refused because of too many attempts
        "other",
    }
)

_warned = threading.Event()


def record_auth_failure(reason: str, *, registry: CollectorRegistry | None = None) -> None:
    """Count one authentication failure for ``reason`` (see :data:`AUTH_FAILURE_REASONS`).

    A reason outside the allow-list is counted as ``other`` and a warning (without the value,
    which may be personal data) is logged once.
    """
    if registry is not None and not isinstance(registry, CollectorRegistry):
        raise InstrumentationError("registry must be a prometheus_client CollectorRegistry")
    with guard("record_auth_failure"):
        if not isinstance(reason, str) or reason not in AUTH_FAILURE_REASONS:
            if not _warned.is_set():
                _warned.set()
                logger.warning(
                    "record_auth_failure: a reason outside AUTH_FAILURE_REASONS was counted as "
                    "'other' (reasons must be fixed words, never user data)"
                )
            reason = "other"
        instruments.counter(
            "vigie_auth_failures",
            "Authentication failures recorded by the application, by reason.",
            ["reason"],
            registry=registry,
        ).labels(reason).inc()
