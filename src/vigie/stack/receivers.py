"""Map vigie's ``apprise_configs`` to Alertmanager's native receiver configs.

Alertmanager has no apprise: a receiver's apprise URL is exported as the native config that sends
to the same place (Discord, Slack, Telegram, e-mail, Microsoft Teams). A URL with no native
equivalent (ntfy, Pushover, apprise's own JSON format, ...) is **not** exported; the exporter
reports it as a warning naming the receiver, and never invents a placeholder webhook in its stead.

Example::

    >>> native_config("tgram://123:ABC/-1001")
    ('telegram_configs', {'bot_token': '123:ABC', 'chat_id': -1001})
    >>> native_config("ntfy://topic") is None
    True
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["native_config"]


def native_config(url: str) -> tuple[str, dict[str, Any]] | None:
    """The Alertmanager ``(key, settings)`` equivalent to apprise ``url``, or None."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    segments = [unquote(piece) for piece in (parts.netloc + parts.path).split("/") if piece]
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    if scheme == "discord" and len(segments) >= 2:
        webhook = f"https://discord.com/api/webhooks/{segments[0]}/{segments[1]}"
        return "discord_configs", {"webhook_url": webhook}
    if scheme == "slack" and len(segments) >= 3 and not segments[0].startswith("xox"):
        settings: dict[str, Any] = {
            "api_url": f"https://hooks.slack.com/services/{segments[0]}/{segments[1]}/{segments[2]}"
        }
        if len(segments) > 3:
            settings["channel"] = segments[3] if segments[3][0] in "#@" else f"#{segments[3]}"
        return "slack_configs", settings
    if scheme == "tgram" and len(segments) >= 2:
        chat = segments[1]
        chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        return "telegram_configs", {"bot_token": segments[0], "chat_id": chat_id}
    if scheme == "msteams" and len(segments) >= 4:
        team, token_a, token_b, token_c = segments[:4]
        webhook = (
            f"https://{team}.webhook.office.com/webhookb2/{token_a}/IncomingWebhook/"
            f"{token_b}/{token_c}"
        )
        return "msteams_configs", {"webhook_url": webhook}
    if scheme in ("mailto", "mailtos") and parts.hostname:
        return "email_configs", _email(parts, query, scheme == "mailtos")
    return None


def _email(parts: Any, query: dict[str, str], tls: bool) -> dict[str, Any]:
    user = unquote(parts.username or "")
    port = parts.port or (587 if tls else 25)
    sender = query.get("from") or (f"{user}@{parts.hostname}" if "@" not in user else user)
    settings: dict[str, Any] = {
        "to": query.get("to") or sender,
        "from": sender,
        "smarthost": f"{parts.hostname}:{port}",
        "require_tls": tls,
    }
    if user:
        settings["auth_username"] = user
    if parts.password:
        settings["auth_password"] = unquote(parts.password)
    return settings
