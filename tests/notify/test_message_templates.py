"""Custom notification templates: template files, per-receiver fields, located errors."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.webhook_sink import WebhookSink
from vigie.exceptions import RoutingConfigError
from vigie.notify.alert import Alert
from vigie.notify.config import load_routing_config, parse_routing_config
from vigie.notify.dispatcher import Dispatcher, Notification
from vigie.notify.service import NotificationService

T0 = datetime(2026, 3, 4, 15, 6, 7, tzinfo=UTC)

TEMPLATE_FILE = """\
{{ define "team.title" }}{{ .Status | toUpper }}: {{ .CommonLabels.alertname }}\
 ({{ len .Alerts.Firing }} firing){{ end }}
{{ define "team.body" -}}
{{ range .Alerts }}* {{ .Labels.instance }} — {{ .Annotations.summary }} \
[{{ .StartsAt.Format "15:04" }}]
{{ end }}runbook: {{ .CommonAnnotations.runbook_url }}
{{- end }}
"""

ROUTING = """\
route: {{receiver: team, group_by: [alertname], group_wait: 0s, group_interval: 1m}}
templates: ['templates/*.tmpl']
receivers:
  - name: team
    apprise_configs:
      - urls: ["json://{address}/chat"]
        title: '{{{{ template "team.title" . }}}}'
        message: '{{{{ template "team.body" . }}}}'
"""


def _alerts(start: datetime) -> list[Alert]:
    return [
        Alert(
            {"alertname": "HighLatency", "job": "api", "instance": instance},
            {"summary": f"p95 over 3s on {instance}", "runbook_url": "http://r/HighLatency"},
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            updated_at=start,
        )
        for instance in ("a:1", "b:2")
    ]


def _notifications(routing: str, alerts: list[Alert], now: datetime = T0) -> list[Notification]:
    sent: list[Notification] = []
    dispatcher = Dispatcher(parse_routing_config(routing), emit=sent.append)
    dispatcher.receive(alerts, now)
    dispatcher.flush_due(now + timedelta(minutes=1))
    return sent


def test_custom_template_file_reaches_the_channel(tmp_path: Path) -> None:
    """A template file's definitions render the title and body that apprise posts (json://)."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "team.tmpl").write_text(TEMPLATE_FILE, encoding="utf-8")
    with WebhookSink() as sink:
        routing = tmp_path / "am.yml"
        routing.write_text(ROUTING.format(address=sink.url.removeprefix("http://")))
        service = NotificationService(load_routing_config(routing))
        service.start()
        try:
            start = datetime.now(UTC).replace(second=0, microsecond=0)
            service.receive(_alerts(start))
            [posted] = sink.wait_for(1, prefix="/chat")
            time.sleep(0.2)
            assert len(sink.bodies("/chat")) == 1
        finally:
            service.stop()
    clock = start.strftime("%H:%M")
    assert posted["title"] == "FIRING: HighLatency (2 firing)"
    assert posted["message"] == (
        f"* a:1 — p95 over 3s on a:1 [{clock}]\n"
        f"* b:2 — p95 over 3s on b:2 [{clock}]\n"
        "runbook: http://r/HighLatency"
    )


@pytest.mark.parametrize(
    ("kind", "settings", "title", "body"),
    [
        ("slack", "api_url: https://hooks.slack.invalid/x", "[FIRING:2] HighLatency (api)", None),
        (
            "slack",
            "{api_url: x, title: '{{ .Status }}', pretext: 'P', text: '{{ len .Alerts }}'}",
            "firing",
            "P\n2",
        ),
        (
            "discord",
            "{webhook_url: x, message: '{{ .GroupLabels }}'}",
            None,
            "map[alertname:HighLatency]",
        ),
        ("msteams", "{webhook_url: x, title: 'T', text: 'B'}", "T", "B"),
        (
            "telegram",
            "{bot_token: 't', chat_id: '1', message: '<b>{{ .Status }}</b>'}",
            None,
            "<b>firing</b>",
        ),
        (
            "email",
            "{to: a@b, from: c@d, smarthost: 'h:25', headers: {Subject: 'S'}, text: 'x'}",
            "S",
            "x",
        ),
        ("webhook", "{url: 'http://127.0.0.1:9/x'}", None, None),
    ],
)  # fmt: skip
def test_each_channel_renders_its_fields(
    kind: str, settings: str, title: str | None, body: str | None
) -> None:
    """Each integration's template fields make its title and body; unset ones use defaults."""
    routing = (
        "route: {receiver: r, group_by: [alertname], group_wait: 0s}\n"
        f"receivers: [{{name: r, {kind}_configs: [{settings}]}}]\n"
    )
    [notification] = _notifications(routing, _alerts(T0))
    assert notification.title == (title or "[FIRING:2] HighLatency (api)")
    if body is None:  # vigie's default text
        assert notification.body.startswith("FIRING: HighLatency p95 over 3s on a:1\n")
    else:
        assert notification.body == body
    assert notification.body_format == "text"


def test_email_html_is_escaped_and_sent_as_html() -> None:
    """An e-mail's html template escapes the values it prints and marks the body as HTML."""
    routing = (
        "route: {receiver: r, group_by: [alertname], group_wait: 0s}\n"
        "receivers: [{name: r, email_configs: [{to: a@b, from: c@d, smarthost: 'h:25',"
        " html: '<p>{{ .CommonAnnotations.note }}</p>'}]}]\n"
    )
    alert = Alert({"alertname": "X"}, {"note": '5 < 6 & "q"'}, starts_at=T0, updated_at=T0)
    [notification] = _notifications(routing, [alert])
    assert notification.body == "<p>5 &lt; 6 &amp; &#34;q&#34;</p>"
    assert notification.body_format == "html"
    assert notification.title == "[FIRING:1] X "


def test_template_failing_on_real_data_still_notifies() -> None:
    """A template that fails only on some data sends the default text with the error on top."""
    routing = (
        "route: {receiver: r, group_by: [alertname], group_wait: 0s}\n"
        "receivers: [{name: r, discord_configs: [{webhook_url: x,"
        " message: '{{ (index .Alerts 1).Labels.instance }}'}]}]\n"
    )
    alert = Alert({"alertname": "X", "instance": "a"}, starts_at=T0, updated_at=T0)
    [notification] = _notifications(routing, [alert])
    assert notification.title == "[FIRING:1] X (a)"
    assert notification.body.startswith("(notification template failed: template: :1:")
    assert "index out of range: 1" in notification.body
    assert notification.body.endswith(
        "FIRING: X\n  since: 2026-03-04T15:06:07Z\n  labels: instance=a"
    )


def test_bad_template_file_names_file_and_line(tmp_path: Path) -> None:
    """A template file that does not parse is a config error naming that file and its line."""
    (tmp_path / "bad.tmpl").write_text(
        '{{ define "a" }}ok{{ end }}\n\n{{ define "b" }}{{ nope }}{{ end }}\n'
    )
    (tmp_path / "am.yml").write_text(
        "route: {receiver: r}\ntemplates: [bad.tmpl]\nreceivers: [{name: r}]\n"
    )
    with pytest.raises(RoutingConfigError) as caught:
        load_routing_config(tmp_path / "am.yml")
    assert caught.value.source == str(tmp_path / "bad.tmpl")
    assert caught.value.line == 3
    assert str(caught.value) == (
        f'{tmp_path / "bad.tmpl"}:3: template: bad.tmpl:3: function "nope" not defined'
    )


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("title: '{{ template \"missing\" . }}'", 'template "missing" not defined'),
        ("title: '{{ .Colour }}'", "can't evaluate field Colour in type *template.Data"),
        ("message: '{{ if }}'", "missing value for if"),
        ("title: '{{ humanize 3 }}'", 'function "humanize" not defined'),
        ("message: '{{ .CommonLabels.Remove }}'", "wrong number of args for Remove"),
    ],
)
def test_bad_field_template_names_config_line(field: str, message: str) -> None:
    """A receiver field whose template is wrong is rejected at load, at the field's line."""
    text = (
        "route: {receiver: r}\n"
        "receivers:\n"
        "  - name: r\n"
        "    discord_configs:\n"
        "      - webhook_url: x\n"
        f"        {field}\n"
    )
    with pytest.raises(RoutingConfigError) as caught:
        parse_routing_config(text, source="am.yml")
    assert caught.value.line == 6
    assert str(caught.value).startswith("am.yml:6: receivers[0].discord_configs[0].")
    assert message in str(caught.value)


def test_template_files_may_redefine_defaults(tmp_path: Path) -> None:
    """A template file may redefine a default template (later definitions win, as in Go)."""
    (tmp_path / "a.tmpl").write_text('{{ define "__subject" }}ALERT {{ .Status }}{{ end }}')
    (tmp_path / "am.yml").write_text(
        "route: {receiver: r, group_wait: 0s}\ntemplates: ['*.tmpl', 'none/*.tmpl']\n"
        "receivers: [{name: r, discord_configs: [{webhook_url: x}]}]\n"
    )
    config = load_routing_config(tmp_path / "am.yml")
    assert config.message_templates.files == [str(tmp_path / "a.tmpl")]
    sent: list[Notification] = []
    dispatcher = Dispatcher(config, emit=sent.append)
    dispatcher.receive([Alert({"alertname": "X"}, starts_at=T0, updated_at=T0)], T0)
    dispatcher.flush_due(T0)
    assert [n.title for n in sent] == ["ALERT firing"]
