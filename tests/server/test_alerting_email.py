"""E-mail notifications for real: vigie and the real Alertmanager mail one local SMTP server.

An alert is posted to a running vigie server (``POST /api/v2/alerts``) and to a real Alertmanager
(Debian ``prometheus-alertmanager`` 0.25) configured with the same ``email_configs`` receiver;
both deliver to an aiosmtpd server on loopback. The mails must carry the same subject (the
default one and a custom template's), and vigie's the configured From, To and body.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from support import free_port
from support.alertmanager import running_alertmanager
from support.certificates import self_signed_pair
from support.vigie_server import QUIET, running_vigie

pytestmark = pytest.mark.slow

TEMPLATES = """\
{{ define "team.subject" }}[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} on \
{{ .CommonLabels.job }}{{ end }}
{{ define "team.text" -}}
{{ range .Alerts.Firing }}{{ .Labels.instance }}: {{ .Annotations.summary }}
{{ end }}runbook: {{ .CommonAnnotations.runbook_url }}
{{- end }}
"""

RECEIVERS = """\
route:
  receiver: mail
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1m
  routes:
    - receiver: custom
      matchers: ['alertname="CustomMail"']
templates: [team.tmpl]
receivers:
  - name: mail
    email_configs:
      - to: oncall@example.org
        from: vigie@example.org
        smarthost: 127.0.0.1:{port}
        require_tls: false
  - name: custom
    email_configs:
      - to: team@example.org
        from: vigie@example.org
        smarthost: 127.0.0.1:{port}
        require_tls: false
        headers: {{Subject: '{{{{ template "team.subject" . }}}}'}}
        html: ''
        text: '{{{{ template "team.text" . }}}}'
"""


@dataclass
class Mailbox:
    """What an SMTP server received: envelope sender, recipients and the parsed message."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[EmailMessage]:
        """Wait for ``count`` messages; returns every message received."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    break
            time.sleep(0.05)
        with self.lock:
            return [message for _, _, message in self.messages]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on loopback (aiosmtpd)."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def smtp_tls(tmp_path: Path) -> Iterator[tuple[Mailbox, int, list[str]]]:
    """A real SMTP server that requires STARTTLS and PLAIN/LOGIN authentication (user/secret);
    the third item lists the users that authenticated."""
    cert, key = self_signed_pair(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    users: list[str] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"user",
            b"s3cret",
        )
        if ok:
            users.append(f"{mechanism}:{data.login.decode()}")
        return AuthResult(success=ok)

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=authenticate, auth_require_tls=True, auth_required=True,
        # aiosmtpd's LOGIN prompts ("User Name") are not the ones Alertmanager's client expects.
        auth_exclude_mechanism=["LOGIN"],
    )  # fmt: skip
    controller.start()
    try:
        yield mailbox, port, users
    finally:
        controller.stop()


def _alert(name: str, instance: str, starts: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "job": "api", "instance": instance, "severity": "critical"},
        "annotations": {
            "summary": f"{instance} is slow",
            "runbook_url": "http://runbooks.example/HighLatency",
        },
        "startsAt": starts,
        "generatorURL": "http://prometheus.example/graph",
    }


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, message.as_string()
    return str(part.get_content()).replace("\r\n", "\n").strip()


def test_email_subject_and_body_as_alertmanager_sends_them(
    smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    """vigie's e-mails reach a real SMTP server with From, To, the subject Alertmanager would
    write (default and custom template) and the custom text body."""
    mailbox, port = smtp
    routing = RECEIVERS.format(port=port)
    (tmp_path / "vigie").mkdir()
    (tmp_path / "vigie" / "team.tmpl").write_text(TEMPLATES)
    (tmp_path / "am").mkdir()
    (tmp_path / "am" / "team.tmpl").write_text(TEMPLATES)
    starts = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    alerts = [
        _alert("HighLatency", "a:1", starts),
        _alert("HighLatency", "b:2", starts),
        _alert("CustomMail", "c:3", starts),
    ]
    inline = "\n".join("      " + line for line in routing.splitlines())
    config = QUIET + f"  alerting:\n    routing:\n{inline}\n"
    with running_vigie(config, tmp_path / "vigie") as url:
        httpx.post(f"{url}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()
        vigie_mails = mailbox.wait_for(2)
    assert len(vigie_mails) == 2, [m["Subject"] for m in vigie_mails]
    with running_alertmanager(routing, tmp_path / "am") as am_url:
        httpx.post(f"{am_url}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()
        am_mails = mailbox.wait_for(4)[2:]
    assert len(am_mails) == 2, [m["Subject"] for m in am_mails]

    by_subject = {str(m["Subject"]): m for m in vigie_mails}
    assert sorted(by_subject) == sorted(str(m["Subject"]) for m in am_mails)
    assert sorted(by_subject) == [
        "[FIRING:2] HighLatency (api critical)",
        "[FIRING] CustomMail on api",
    ]

    default = by_subject["[FIRING:2] HighLatency (api critical)"]
    assert default["From"] == "vigie@example.org"
    assert default["To"] == "oncall@example.org"
    body = _text(default)
    assert "FIRING: HighLatency a:1 is slow" in body
    assert "runbook: http://runbooks.example/HighLatency" in body

    custom = by_subject["[FIRING] CustomMail on api"]
    assert custom["To"] == "team@example.org"
    expected = "c:3: c:3 is slow\nrunbook: http://runbooks.example/HighLatency"
    assert _text(custom) == expected
    [am_custom] = [m for m in am_mails if m["Subject"] == "[FIRING] CustomMail on api"]
    assert _text(am_custom) == expected


AUTHENTICATED = """\
route: {{receiver: mail, group_by: [alertname], group_wait: 1s, group_interval: 1m}}
receivers:
  - name: mail
    email_configs:
      - to: oncall@example.org
        from: vigie@example.org
        smarthost: 127.0.0.1:{port}
        auth_username: user
        auth_password: s3cret
        require_tls: true
        tls_config: {{insecure_skip_verify: true}}
"""


def test_email_over_starttls_with_authentication(
    smtp_tls: tuple[Mailbox, int, list[str]], tmp_path: Path
) -> None:
    """With auth_username/auth_password and require_tls, vigie (like Alertmanager) upgrades
    the connection with STARTTLS, logs in, and the mail arrives."""
    mailbox, port, users = smtp_tls
    routing = AUTHENTICATED.format(port=port)
    starts = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    alerts = [_alert("HighLatency", "a:1", starts)]
    inline = "\n".join("      " + line for line in routing.splitlines())
    config = QUIET + f"  alerting:\n    routing:\n{inline}\n"
    with running_vigie(config, tmp_path / "vigie") as url:
        httpx.post(f"{url}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()
        [mail] = mailbox.wait_for(1)
    assert len(users) == 1
    assert users[0].endswith(":user")
    with running_alertmanager(routing, tmp_path / "am") as am_url:
        httpx.post(f"{am_url}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()
        [_, am_mail] = mailbox.wait_for(2)
    assert len(users) == 2
    assert mail["Subject"] == am_mail["Subject"] == "[FIRING:1] HighLatency (a:1 api critical)"
    assert mail["To"] == "oncall@example.org"
