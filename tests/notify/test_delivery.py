"""Durable delivery: retries with backoff, nothing lost across a receiver outage or a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.webhook_sink import WebhookSink
from vigie.exceptions import NotificationError
from vigie.notify.alert import Alert
from vigie.notify.config import Integration, parse_routing_config
from vigie.notify.notifiers import AppriseNotifier, FaultyNotifier, WebhookNotifier, apprise_urls
from vigie.notify.outbox import RetryPolicy
from vigie.notify.service import NotificationService
from vigie.testing import FakeClock

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CONFIG = """
route: {receiver: hook, group_by: [alertname], group_wait: 10s, group_interval: 1m}
receivers: [{name: hook, webhook_configs: [{url: "http://127.0.0.1:9/hook"}]}]
"""


def _alert(name: str, at: datetime) -> Alert:
    return Alert({"alertname": name}, starts_at=at, ends_at=at + timedelta(hours=1), updated_at=at)


def _service(tmp_path: Path, clock: FakeClock, notifier: FaultyNotifier) -> NotificationService:
    return NotificationService(
        parse_routing_config(CONFIG),
        data_dir=tmp_path,
        clock=clock,
        notifier_factory=lambda integration: notifier,
        retry_policy=RetryPolicy(base=timedelta(seconds=1), cap=timedelta(seconds=30)),
    )


def test_receiver_down_ten_minutes_gets_everything(tmp_path: Path) -> None:
    """Every notification queued during a 10-minute outage is delivered once it returns."""
    clock = FakeClock(T0.timestamp())
    notifier = FaultyNotifier(down=True)
    service = _service(tmp_path, clock, notifier)
    for minute in range(10):
        service.receive([_alert(f"Alert{minute}", clock_time(clock))])
        for _ in range(60):
            clock.advance(1)
            service.flush_due()
            service.deliver_due()
    assert notifier.sent == []
    assert notifier.attempts > 10
    assert service.outbox.pending_count() == 10
    notifier.down = False
    clock.advance(31)  # past the longest backoff
    service.deliver_due()
    assert sorted(n.payload["groupLabels"]["alertname"] for n in notifier.sent) == [
        f"Alert{m}" for m in range(10)
    ]
    assert service.outbox.pending_count() == 0
    service.stop()


def clock_time(clock: FakeClock) -> datetime:
    return datetime.fromtimestamp(clock(), tz=UTC)


def test_restart_resumes_queued_delivery(tmp_path: Path) -> None:
    """Notifications queued before a stop are delivered after a restart, and not re-sent."""
    clock = FakeClock(T0.timestamp())
    down = FaultyNotifier(down=True)
    first = _service(tmp_path, clock, down)
    first.receive([_alert("Down", clock_time(clock))])
    clock.advance(10)
    first.flush_due()
    first.deliver_due()
    first.stop()

    up = FaultyNotifier()
    second = _service(tmp_path, clock, up)
    clock.advance(5)
    second.deliver_due()
    assert len(up.sent) == 1
    second.receive([_alert("Down", T0)])
    clock.advance(60)
    second.flush_due()
    second.deliver_due()
    assert len(up.sent) == 1, "the notification log survived the restart: no duplicate"
    history = second.history()
    assert history[0].state == "delivered"
    assert history[0].attempts == 2
    second.stop()


def test_group_order_survives_an_outage(tmp_path: Path) -> None:
    """After an outage, a group's firing message is delivered before its resolved message."""
    clock = FakeClock(T0.timestamp())
    notifier = FaultyNotifier(down=True)
    service = NotificationService(
        parse_routing_config(CONFIG),
        data_dir=tmp_path,
        clock=clock,
        notifier_factory=lambda integration: notifier,
        retry_policy=RetryPolicy(base=timedelta(seconds=1), cap=timedelta(minutes=10)),
    )
    start = clock_time(clock)
    service.receive([_alert("Down", start)])
    clock.advance(10)
    service.flush_due()
    # The firing message keeps failing until its next attempt is minutes away.
    while notifier.attempts < 9:
        clock.advance(1)
        service.deliver_due()
    ended = clock_time(clock)
    service.receive(
        [Alert({"alertname": "Down"}, starts_at=start, ends_at=ended, updated_at=ended)]
    )
    clock.advance(60)
    service.flush_due()  # queues the resolved message, due now, while the firing one waits
    notifier.down = False
    service.deliver_due()
    assert notifier.sent == [], "the resolved message must wait for the firing one"
    clock.advance(600)
    service.deliver_due()
    service.deliver_due()
    assert [n.payload["status"] for n in notifier.sent] == ["firing", "resolved"]
    service.stop()


def test_backoff_grows_and_is_capped() -> None:
    """Delays double from the base, with jitter, and never exceed the cap."""
    import random

    policy = RetryPolicy(base=timedelta(seconds=1), cap=timedelta(seconds=30))
    rng = random.Random(1)
    delays = [policy.delay(n, rng).total_seconds() for n in range(10)]
    assert 0.5 <= delays[0] <= 1
    assert 4 <= delays[3] <= 8
    assert all(d <= 30 for d in delays)
    assert delays[9] >= 15


def test_webhook_notifier_posts_payload() -> None:
    """The webhook notifier posts the JSON payload; an error status raises NotificationError."""
    from vigie.notify.dispatcher import Notification

    notification = Notification(
        receiver="r",
        integration=Integration("webhook", True, {}),
        integration_index=0,
        group_key="{}:{}",
        payload={"version": "4", "status": "firing"},
        title="t",
        body="b",
        created_at=T0,
    )
    with WebhookSink() as sink:
        notifier = WebhookNotifier(f"{sink.url}/hook")
        notifier.send(notification)
        assert sink.bodies("/hook") == [{"version": "4", "status": "firing"}]
        sink.failing = True
        with pytest.raises(NotificationError, match="HTTP 503"):
            notifier.send(notification)
        notifier.close()


def test_apprise_delivers_through_a_real_channel() -> None:
    """A receiver using apprise_configs delivers title and body through apprise (json:// here)."""
    from vigie.notify.dispatcher import Notification

    with WebhookSink() as sink:
        address = sink.url.removeprefix("http://")
        integration = Integration("apprise", True, {"urls": [f"json://{address}/apprise"]})
        notifier = AppriseNotifier(apprise_urls(integration))
        notification = Notification(
            receiver="r",
            integration=integration,
            integration_index=0,
            group_key="k",
            payload={},
            title="[FIRING:1] Down",
            body="FIRING: Down\n  runbook: http://r",
            created_at=T0,
        )
        notifier.send(notification)
        body = sink.bodies("/apprise")[0]
        assert body["title"] == "[FIRING:1] Down"
        assert "runbook: http://r" in body["message"]


def test_apprise_urls_for_each_channel() -> None:
    """Receiver settings map to the apprise URLs of their channel."""
    email = Integration(
        "email",
        False,
        {
            "to": "a@b.org",
            "from": "v@b.org",
            "smarthost": "mail:587",
            "auth_username": "u",
            "auth_password": "p@ss",
            "require_tls": True,
        },
    )
    assert apprise_urls(email) == [
        "mailto://u:p%40ss@mail:587?smtp=mail&from=v%40b.org&to=a%40b.org&mode=starttls"
    ]
    discord = Integration("discord", True, {"webhook_url": "https://discord.com/api/webhooks/1/x"})
    assert apprise_urls(discord) == ["https://discord.com/api/webhooks/1/x"]
    with pytest.raises(NotificationError, match="does not recognise"):
        AppriseNotifier(["nosuchscheme://x"])


def test_outbox_of_an_older_vigie_is_upgraded(tmp_path: Path) -> None:
    """A queue written before the body_format column existed opens, and its rows read as text."""
    import sqlite3

    from vigie.notify.outbox import Outbox

    database = tmp_path / "notifications.db"
    with sqlite3.connect(database) as old:
        old.execute(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, dedup_key TEXT UNIQUE NOT"
            " NULL, receiver TEXT NOT NULL, kind TEXT NOT NULL, integration_index INTEGER NOT"
            " NULL, send_resolved INTEGER NOT NULL, settings TEXT NOT NULL, group_key TEXT NOT"
            " NULL, payload TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, created_at"
            " REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL,"
            " state TEXT NOT NULL DEFAULT 'pending', last_error TEXT NOT NULL DEFAULT '',"
            " delivered_at REAL)"
        )
        old.execute(
            "INSERT INTO outbox (dedup_key, receiver, kind, integration_index, send_resolved,"
            " settings, group_key, payload, title, body, created_at, next_attempt) VALUES"
            " ('k', 'r', 'webhook', 0, 1, '{}', 'g', '{}', 'T', 'B', 0, 0)"
        )
    outbox = Outbox(database)
    [record] = outbox.due(T0)
    assert (record.notification.title, record.notification.body_format) == ("T", "text")
    outbox.close()


def test_html_email_arrives_as_html(tmp_path: Path) -> None:
    """An HTML body goes out through apprise as a text/html part, unchanged, to a real SMTP
    server."""
    from email import message_from_bytes, policy
    from email.message import EmailMessage
    from typing import Any

    from aiosmtpd.controller import Controller

    from support import free_port
    from vigie.notify.dispatcher import Notification

    received: list[EmailMessage] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            message = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            received.append(message)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = {"to": "a@example.org", "from": "v@example.org",
                    "smarthost": f"127.0.0.1:{port}", "require_tls": False}  # fmt: skip
        integration = Integration("email", False, settings)
        notifier = AppriseNotifier(apprise_urls(integration))
        html = "<p>5 &lt; 6 <b>firing</b></p>"
        notifier.send(
            Notification(
                receiver="r",
                integration=integration,
                integration_index=0,
                group_key="g",
                payload={},
                title="[FIRING:1] X",
                body=html,
                created_at=T0,
                body_format="html",
            )
        )
        notifier.close()
    finally:
        controller.stop()
    [mail] = received
    assert mail["Subject"] == "[FIRING:1] X"
    part = mail.get_body(preferencelist=("html",))
    assert part is not None
    assert str(part.get_content()).strip() == html


def test_queued_settings_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    """The queue keeps receivers' secrets (URLs with tokens, SMTP passwords): its files are 0600."""
    import stat

    clock = FakeClock(T0.timestamp())
    service = _service(tmp_path, clock, FaultyNotifier(down=True))
    service.receive([_alert("Down", T0)])
    clock.advance(10)
    service.flush_due()
    service.deliver_due()
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    service.stop()
