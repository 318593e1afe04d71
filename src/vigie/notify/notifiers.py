"""Notifiers: the last step, one per channel kind, each ``send(notification)`` / ``close()``.

The webhook notifier posts Alertmanager's version-4 payload as JSON, byte for byte what a webhook
receiver of Alertmanager gets, and the Slack notifier (:mod:`vigie.notify.slack`) posts the
message Alertmanager posts to Slack. Every other channel (Discord, Microsoft Teams, Telegram,
e-mail, and anything listed under ``apprise_configs``) goes through the ``apprise`` library, which
keeps those clients up to date; vigie only turns the receiver's settings into apprise URLs and the
alert group into a title and a body. :class:`FakeNotifier` and :class:`FaultyNotifier` stand
beside them for tests.

Example::

    >>> from vigie.notify.config import Integration
    >>> apprise_urls(Integration("telegram", True, {"bot_token": "123:abc", "chat_id": "42"}))
    ['tgram://123:abc/42']
"""

from __future__ import annotations

import threading
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from vigie.exceptions import NotificationError
from vigie.notify.config import Integration
from vigie.notify.dispatcher import Notification
from vigie.notify.message_templates import MessageTemplates
from vigie.notify.slack import SlackNotifier

__all__ = [
    "AppriseNotifier",
    "FakeNotifier",
    "FaultyNotifier",
    "Notifier",
    "WebhookNotifier",
    "apprise_urls",
    "notifier_for",
]


class Notifier(Protocol):
    """Delivers notifications of one integration; raises NotificationError on failure."""

    def send(self, notification: Notification) -> None:
        """Deliver one notification or raise :class:`~vigie.exceptions.NotificationError`."""

    def close(self) -> None:
        """Release connections."""


class WebhookNotifier:
    """POSTs the Alertmanager webhook payload to ``url``."""

    def __init__(self, url: str, *, timeout: float = 10.0, bearer_token: str | None = None) -> None:
        import httpx

        headers = {"User-Agent": "vigie-notifier", "Content-Type": "application/json"}
        if bearer_token:
            headers["Authorization"] = f"Bearer {bearer_token}"
        self.url = url
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def send(self, notification: Notification) -> None:
        import httpx

        try:
            response = self._client.post(self.url, json=notification.payload)
        except httpx.HTTPError as error:
            raise NotificationError(
                f"webhook {self.url}: {error or type(error).__name__}"
            ) from None
        if response.status_code // 100 != 2:
            raise NotificationError(f"webhook {self.url}: HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()


def apprise_urls(integration: Integration) -> list[str]:
    """The apprise URLs that deliver to a receiver integration's channel."""
    settings = integration.settings
    kind = integration.kind
    if kind == "discord":
        return [str(settings["webhook_url"])]
    if kind == "msteams":
        return [str(settings["webhook_url"])]
    if kind == "telegram":
        return [f"tgram://{settings['bot_token']}/{settings['chat_id']}"]
    if kind == "email":
        return [_email_url(settings)]
    if kind == "apprise":
        return [str(url) for url in settings["urls"]]
    raise NotificationError(f"no apprise mapping for integration kind {kind!r}")


def _email_url(settings: dict[str, Any]) -> str:
    host, _, port = str(settings["smarthost"]).rpartition(":")
    if not host:
        host, port = port, "25"
    user = settings.get("auth_username")
    credentials = ""
    if user:
        credentials = quote(str(user), safe="")
        if settings.get("auth_password"):
            credentials += ":" + quote(str(settings["auth_password"]), safe="")
        credentials += "@"
    require_tls = settings.get("require_tls", True)
    mode = "ssl" if port == "465" else ("starttls" if require_tls else "insecure")
    arguments = {"smtp": host, "from": settings["from"], "to": settings["to"], "mode": mode}
    tls = settings.get("tls_config")
    if isinstance(tls, dict) and tls.get("insecure_skip_verify"):
        arguments["verify"] = "no"  # Alertmanager's tls_config.insecure_skip_verify
    return f"mailto://{credentials}{host}:{port}?{urlencode(arguments)}"


class AppriseNotifier:
    """Delivers the title and body of a notification through apprise."""

    def __init__(self, urls: list[str]) -> None:
        import apprise

        self._apprise = apprise.Apprise()
        for url in urls:
            if not self._apprise.add(url):
                raise NotificationError(f"apprise does not recognise the URL {_redact(url)!r}")

    def send(self, notification: Notification) -> None:
        from apprise import NotifyFormat

        body_format = NotifyFormat.HTML if notification.body_format == "html" else NotifyFormat.TEXT
        if not self._apprise.notify(
            body=notification.body, title=notification.title, body_format=body_format
        ):
            raise NotificationError(f"apprise delivery failed for receiver {notification.receiver}")

    def close(self) -> None:
        self._apprise.clear()


def notifier_for(
    integration: Integration, *, templates: MessageTemplates | None = None
) -> Notifier:
    """The notifier delivering to one integration of a receiver.

    ``templates`` (the routing file's) render the messages that are built at send time: Slack's.
    """
    if integration.kind == "webhook":
        token = integration.settings.get("bearer_token")
        return WebhookNotifier(str(integration.settings["url"]), bearer_token=token)
    if integration.kind == "slack":
        return SlackNotifier(integration.settings, templates=templates)
    return AppriseNotifier(apprise_urls(integration))


def _redact(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://…" if rest else url


class FakeNotifier:
    """Records what it is asked to send (for tests)."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self.closed = False
        self._lock = threading.Lock()

    def send(self, notification: Notification) -> None:
        with self._lock:
            self.sent.append(notification)

    def close(self) -> None:
        self.closed = True


class FaultyNotifier(FakeNotifier):
    """Fails while ``down`` is set (or for the first ``failures`` sends), then records (tests)."""

    def __init__(self, *, failures: int = 0, down: bool = False) -> None:
        super().__init__()
        self.remaining_failures = failures
        self.down = down
        self.attempts = 0

    def send(self, notification: Notification) -> None:
        self.attempts += 1
        if self.down or self.remaining_failures > 0:
            self.remaining_failures = max(0, self.remaining_failures - 1)
            raise NotificationError("receiver unavailable")
        super().send(notification)
