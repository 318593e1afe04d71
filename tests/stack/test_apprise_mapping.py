"""apprise URLs become Alertmanager's native configs, or are reported."""

from __future__ import annotations

import pytest

from vigie.stack.receivers import native_config


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("discord://111/tok-en", ("discord_configs",
         {"webhook_url": "https://discord.com/api/webhooks/111/tok-en"})),
        ("slack://T1/B2/C3/alerts", ("slack_configs",
         {"api_url": "https://hooks.slack.com/services/T1/B2/C3", "channel": "#alerts"})),
        ("tgram://123456:ABCdef/-1001234", ("telegram_configs",
         {"bot_token": "123456:ABCdef", "chat_id": -1001234})),
        ("msteams://acme/a1/b2/c3", ("msteams_configs",
         {"webhook_url": "https://acme.webhook.office.com/webhookb2/a1/IncomingWebhook/b2/c3"})),
        ("mailtos://ops:pw@smtp.example.com?to=oncall@example.com", ("email_configs", {
            "to": "oncall@example.com", "from": "ops@smtp.example.com",
            "smarthost": "smtp.example.com:587", "require_tls": True,
            "auth_username": "ops", "auth_password": "pw"})),
    ],
)  # fmt: skip
def test_native_equivalents(url: str, expected: tuple[str, dict[str, object]]) -> None:
    """Each apprise scheme with an Alertmanager integration maps to the same destination."""
    assert native_config(url) == expected


@pytest.mark.parametrize("url", ["ntfy://topic", "json://host/path", "pover://user@token"])
def test_no_equivalent(url: str) -> None:
    """Schemes Alertmanager cannot send to are not mapped (no invented webhook)."""
    assert native_config(url) is None
