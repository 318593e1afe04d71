"""Slack notifications carry the JSON a real Alertmanager posts for the same slack_configs."""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import free_port
from support.alertmanager import running_alertmanager
from support.webhook_sink import WebhookSink
from vigie.exceptions import NotificationError, RoutingConfigError
from vigie.notify.alert import Alert
from vigie.notify.api_models import parse_postable_alerts
from vigie.notify.config import load_routing_config, parse_routing_config
from vigie.notify.dispatcher import Dispatcher, Notification
from vigie.notify.notifiers import notifier_for
from vigie.notify.service import NotificationService
from vigie.notify.slack import SlackNotifier

ROUTE = "route: {receiver: team, group_by: [alertname], group_wait: 0s, group_interval: 1s}\n"
# vigie's two deliberate differences from Alertmanager's default.tmpl, put back.
ALERTMANAGER_BRANDING = """\
{{ define "__alertmanager" }}Alertmanager{{ end }}
{{ define "__alertmanagerURL" }}{{ .ExternalURL }}/#/alerts?receiver={{ .Receiver | urlquery }}\
{{ end }}
"""
TEAM_TEMPLATES = """\
{{ define "team.title" }}[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} \
({{ len .Alerts }}){{ end }}
{{ define "team.text" }}{{ range .Alerts }}• *{{ .Labels.instance }}*: {{ .Annotations.summary }} \
since {{ .StartsAt.Format "15:04:05" }}
{{ end }}{{ end }}
"""
FULL_SLACK_CONFIG = """\
templates: ['{templates}']
{route}receivers:
- name: team
  slack_configs:
  - api_url_file: {url_file}
    send_resolved: true
    channel: '#{{{{ .CommonLabels.team }}}}-alerts'
    username: 'vigie-{{{{ .CommonLabels.job }}}}'
    icon_emoji: ':rotating_light:'
    link_names: true
    color: '{{{{ if eq .Status "firing" }}}}#D63232{{{{ else }}}}#36A64F{{{{ end }}}}'
    title: '{{{{ template "team.title" . }}}}'
    title_link: '{{{{ .ExternalURL }}}}/dash?alert={{{{ .GroupLabels.alertname | urlquery }}}}'
    pretext: '{{{{ len .Alerts.Firing }}}} firing, {{{{ len .Alerts.Resolved }}}} resolved'
    text: '{{{{ template "team.text" . }}}}'
    fallback: '{{{{ .Status }}}}: {{{{ .CommonAnnotations.summary }}}}'
    callback_id: 'cb-{{{{ .GroupLabels.alertname }}}}'
    footer: 'runbook: {{{{ .CommonAnnotations.runbook_url }}}}'
    image_url: 'http://img.invalid/{{{{ .GroupLabels.alertname }}}}.png'
    mrkdwn_in: [pretext, text, fields]
    short_fields: true
    fields:
    - {{title: Severity, value: '{{{{ .CommonLabels.severity | toUpper }}}}'}}
    - {{title: Instances, value: '{{{{ range .Alerts }}}}{{{{ .Labels.instance }}}} {{{{ end }}}}',
       short: false}}
    - {{title: '{{{{ .CommonLabels.nope }}}}', value: '{{{{ .CommonLabels.nope }}}}', short: true}}
    actions:
    - {{type: button, text: 'Runbook {{{{ .GroupLabels.alertname }}}}', style: primary,
       url: '{{{{ .CommonAnnotations.runbook_url }}}}', name: dropped-with-url}}
    - {{type: button, text: Silence, name: silence, value: '{{{{ .GroupLabels.alertname }}}}',
       confirm: {{text: 'Silence {{{{ len .Alerts }}}} alerts?', ok_text: Do it}}}}
"""


def _postable(start: datetime, end: datetime | None = None) -> list[dict[str, Any]]:
    alerts = []
    for instance in ("db-1:9100", "db-2:9100"):
        alert: dict[str, Any] = {
            "labels": {
                "alertname": "DiskFull",
                "job": "node",
                "team": "storage",
                "severity": "critical",
                "instance": instance,
            },
            "annotations": {"summary": "disk almost full", "runbook_url": "http://rb/DiskFull"},
            "startsAt": start.isoformat().replace("+00:00", "Z"),
            "generatorURL": "http://vigie.test/graph",
        }
        if end is not None:
            alert["endsAt"] = end.isoformat().replace("+00:00", "Z")
        alerts.append(alert)
    return alerts


def _play(
    am_config: str, vigie_configs: dict[str, str], tmp_path: Path, sink: WebhookSink
) -> dict[str, list[Any]]:
    """Fire two alerts, then resolve them, on a real Alertmanager and on vigie services.

    Returns the bodies posted to the sink by path (without its ``/``); names of the paths the
    configs post to must not be prefixes of one another.
    """
    with running_alertmanager(am_config, tmp_path / "am") as alertmanager:
        # Alertmanager's own external URL (no --web.external-url): http://<hostname>:<port>.
        external = f"http://{socket.gethostname()}:{alertmanager.rsplit(':', 1)[1]}"
        services = []
        for name, text in vigie_configs.items():
            routing = tmp_path / f"{name}.yml"
            routing.write_text(text, encoding="utf-8")
            service = NotificationService(
                load_routing_config(routing), data_dir=tmp_path / name, external_url=external
            )
            service.start()
            services.append(service)
        paths = _paths(sink.url, am_config, *vigie_configs.values())
        try:
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
            for step, end in enumerate((None, datetime.now(UTC))):
                body = _postable(start, end)
                httpx.post(f"{alertmanager}/api/v2/alerts", json=body).raise_for_status()
                now = datetime.now(UTC)
                for service in services:
                    service.receive(
                        parse_postable_alerts(body, now=now, resolve_timeout=timedelta(minutes=5))
                    )
                for path in paths:
                    sink.wait_for(step + 1, timeout=8, prefix=f"/{path}")
            time.sleep(0.3)  # nothing more may come
        finally:
            for service in services:
                service.stop()
    by_path: dict[str, list[Any]] = {}
    for item in sink.received:
        by_path.setdefault(item.path.lstrip("/"), []).append(item.body)
    assert sorted(by_path) == sorted(paths)
    return by_path


def _paths(sink_url: str, *configs: str) -> list[str]:
    """The sink paths the configs post to (in a quoted api_url, or in an api_url_file)."""
    found = []
    for config in configs:
        for line in config.splitlines():
            if f"{sink_url}/" in line:
                found.append(line.split(f"{sink_url}/", 1)[1].split("'", 1)[0])
            elif "api_url_file:" in line:
                url = Path(line.split("api_url_file:", 1)[1].strip()).read_text().strip()
                found.append(url.rsplit("/", 1)[1])
    return found


@pytest.mark.slow
def test_default_slack_config_posts_alertmanagers_message(tmp_path: Path) -> None:
    """With defaults only, vigie posts Alertmanager's message but for its deliberate differences.

    Those are vigie's name and alerts page (``__alertmanager``/``__alertmanagerURL``: username,
    title_link and fallback) and vigie's body in ``text``; restoring both in the config gives
    Alertmanager's JSON exactly. Settings set to '' stay empty, as in Alertmanager.
    """
    branding = tmp_path / "branding.tmpl"
    branding.write_text(ALERTMANAGER_BRANDING, encoding="utf-8")
    keys = ("title", "title_link", "color", "username", "text", "footer", "fallback", "pretext")
    empty = ", ".join(f"{key}: ''" for key in keys)

    def config(name: str, extra: str = "", templates: str = "") -> str:
        return (
            f"{templates}{ROUTE}receivers:\n- name: team\n  slack_configs:\n"
            f"  - {{api_url: 'SINK/{name}-defaults', send_resolved: true{extra}}}\n"
            f"  - {{api_url: 'SINK/{name}-empty', send_resolved: true, {empty}}}\n"
        )

    with WebhookSink() as sink:
        configs = {
            "vigie": config("vigie"),
            "branded": config(
                "branded",
                """, text: '{{ template "slack.default.text" . }}'""",
                f"templates: ['{branding}']\n",
            ),
        }
        posted = _play(
            config("am").replace("SINK", sink.url),
            {name: text.replace("SINK", sink.url) for name, text in configs.items()},
            tmp_path,
            sink,
        )
    theirs = posted["am-defaults"]
    assert [body["attachments"][0]["color"] for body in theirs] == ["danger", "good"]
    assert posted["branded-defaults"] == theirs
    assert posted["am-empty"][0] == {
        "attachments": [
            {
                "text": "",
                "fallback": "",
                "callback_id": "",
                "footer": "",
                "mrkdwn_in": ["fallback", "pretext", "text"],
            }
        ]
    }
    assert posted["vigie-empty"] == posted["branded-empty"] == posted["am-empty"]
    assert len(posted["vigie-defaults"]) == len(theirs) == 2
    for got, reference in zip(posted["vigie-defaults"], theirs, strict=True):
        expected = copy.deepcopy(reference)
        attachment = expected["attachments"][0]
        link = reference["attachments"][0]["title_link"].replace("/#/alerts", "/alerts")
        expected["username"] = "vigie"
        attachment["title_link"] = link
        attachment["fallback"] = f"{attachment['title']} | {link}"
        text = got["attachments"][0]["text"]
        status = "FIRING" if attachment["color"] == "danger" else "RESOLVED"
        assert text.startswith(f"{status}: DiskFull disk almost full\n  severity: critical\n")
        assert "  runbook: http://rb/DiskFull\n" in text
        attachment["text"] = text
        assert got == expected


@pytest.mark.slow
def test_full_slack_config_posts_alertmanagers_message(tmp_path: Path) -> None:
    """Every Slack setting, templated, from a file's templates: the same JSON as Alertmanager."""
    templates = tmp_path / "team.tmpl"
    templates.write_text(TEAM_TEMPLATES, encoding="utf-8")
    with WebhookSink() as sink:
        configs = {}
        for name in ("am", "vigie"):
            url_file = tmp_path / f"{name}.url"
            url_file.write_text(f"  {sink.url}/{name}-full\n", encoding="utf-8")  # trimmed
            configs[name] = FULL_SLACK_CONFIG.format(
                templates=templates, route=ROUTE, url_file=url_file
            )
        posted = _play(configs["am"], {"vigie": configs["vigie"]}, tmp_path, sink)
    theirs = posted["am-full"]
    firing = theirs[0]
    assert firing["channel"] == "#storage-alerts"
    assert firing["attachments"][0]["fields"][2] == {"short": True}
    assert [body["attachments"][0]["pretext"] for body in theirs] == [
        "2 firing, 0 resolved",
        "0 firing, 2 resolved",
    ]
    assert posted["vigie-full"] == theirs


def test_slack_replaces_apprise_and_keeps_the_url_secret(tmp_path: Path) -> None:
    """Errors name the receiver and the HTTP status or the file, never the api_url (a secret)."""
    config = parse_routing_config(
        f"{ROUTE}receivers: [{{name: team, slack_configs: [{{api_url: 'http://x/T0/B0/SECRET',"
        " channel: '#ops'}]}]"
    )
    [notification] = _notifications(config)
    with WebhookSink() as sink:
        sink.failing = True
        notification.integration.settings["api_url"] = f"{sink.url}/services/T0/B0/SECRET"
        notifier = notifier_for(notification.integration, templates=config.message_templates)
        assert isinstance(notifier, SlackNotifier)
        with pytest.raises(NotificationError) as failed:
            notifier.send(notification)
        assert str(failed.value) == "slack receiver team (channel '#ops'): HTTP 503"
        notifier.close()
    down = SlackNotifier({"api_url": f"http://127.0.0.1:{free_port()}/SECRET"})
    with pytest.raises(NotificationError, match="slack receiver team") as refused:
        down.send(notification)
    assert "SECRET" not in str(refused.value)
    down.close()
    unreadable = SlackNotifier({"api_url_file": str(tmp_path / "missing.url")})
    with pytest.raises(NotificationError) as no_file:
        unreadable.send(notification)
    assert str(no_file.value) == (
        f"slack receiver team: cannot read api_url_file {tmp_path / 'missing.url'}: "
        "No such file or directory"
    )
    unreadable.close()


def test_slack_web_api_error_in_a_200_answer_fails(tmp_path: Path) -> None:
    """Slack's Web API answers 200 with {"ok": false}: that is a failed delivery."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            answer = b'{"ok": false, "error": "channel_not_found"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url_file = tmp_path / "slack.url"
        url_file.write_text(f"http://127.0.0.1:{server.server_address[1]}/api/chat.postMessage")
        config = parse_routing_config(
            f"global: {{slack_api_url_file: '{url_file}'}}\n{ROUTE}"
            "receivers: [{name: team, slack_configs: [{}]}]"
        )
        [notification] = _notifications(config)
        assert notification.integration.settings["api_url_file"] == str(url_file)
        notifier = SlackNotifier(notification.integration.settings)
        with pytest.raises(NotificationError, match="error response from Slack: channel_not_found"):
            notifier.send(notification)
        notifier.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_template_failing_on_this_data_still_sends_the_page() -> None:
    """A template that fails on this group (index 1 of one alert) falls back; the error is shown."""
    config = parse_routing_config(
        f"{ROUTE}receivers: [{{name: team, slack_configs: [{{api_url: 'http://x',"
        " color: '{{ (index .Alerts 1).Labels.x }}', text: 'body',"
        " fields: [{title: a, value: '{{ (index .Alerts 1).Labels.x }}'}, {title: b, value: c}]}]}]"
    )
    [notification] = _notifications(config, count=1)
    message = SlackNotifier(notification.integration.settings).message(notification)
    attachment = message["attachments"][0]
    assert attachment["color"] == "danger"
    assert attachment["fields"] == [{"title": "b", "value": "c", "short": False}]
    assert attachment["text"].startswith("(notification template failed: template: ")
    assert attachment["text"].endswith("index out of range: 1)\n\nbody")


@pytest.mark.parametrize(
    ("settings", "line", "message"),
    [
        ("{api_url: x, colour: red}", 3, "receivers[0].slack_configs[0]: unknown field 'colour'"),
        ("{api_url: x, api_url_file: /f}", 3, "at most one of api_url & api_url_file"),
        ("{channel: '#a'}", 3, "receivers[0].slack_configs[0]: missing api_url"),
        (
            "{api_url: x, fields: [{title: t}]}",
            3,
            "receivers[0].slack_configs[0].fields[0]: missing value in Slack field configuration",
        ),
        ("{api_url: x, actions: [{type: button, text: t}]}", 3, "missing name or url"),
        ("{api_url: x, actions: [{type: b, text: t, name: n, confirm: {}}]}", 3, "missing text"),
        (
            "{api_url: x, color: '{{ .Colour }}'}",
            3,
            'receivers[0].slack_configs[0].color: template: color:1:3: executing "color" at'
            " <.Colour>: can't evaluate field Colour in type *template.Data",
        ),
        ("{api_url: x, fields: [{title: t, value: '{{ nope }}'}]}", 3, 'function "nope" not'),
        ("{api_url: x, mrkdwn_in: text}", 3, "mrkdwn_in: expected a list of strings"),
    ],
)
def test_bad_slack_settings_are_located_errors(settings: str, line: int, message: str) -> None:
    """What Alertmanager refuses, and templates that cannot work, fail the load with a line."""
    text = f"{ROUTE}receivers:\n- {{name: team, slack_configs: [{settings}]}}\n"
    with pytest.raises(RoutingConfigError) as error:
        parse_routing_config(text, source="am.yml")
    assert error.value.line == line
    assert message in str(error.value)
    assert str(error.value).startswith(f"am.yml:{line}: receivers[0].slack_configs[0]")


def _notifications(config: Any, count: int = 2) -> list[Notification]:
    sent: list[Notification] = []
    dispatcher = Dispatcher(config, emit=sent.append)
    start = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    alerts = [
        Alert(
            {"alertname": "DiskFull", "instance": f"db-{index}"},
            {"summary": "disk almost full"},
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            updated_at=start,
        )
        for index in range(count)
    ]
    dispatcher.receive(alerts, start)
    dispatcher.flush_due(start + timedelta(seconds=1))
    return sent


def test_message_is_json_with_alertmanagers_key_order() -> None:
    """Keys come in Alertmanager's order, so the posted bytes read like its JSON."""
    config = parse_routing_config(
        f"{ROUTE}receivers: [{{name: team, slack_configs: [{{api_url: x, channel: c,"
        " fields: [{title: a, value: b}], actions: [{type: t, text: x, url: u}]}]}]"
    )
    [notification] = _notifications(config)
    message = SlackNotifier(notification.integration.settings).message(notification)
    assert list(message) == ["channel", "username", "attachments"]
    assert list(message["attachments"][0]) == [
        "title",
        "title_link",
        "text",
        "fallback",
        "callback_id",
        "fields",
        "actions",
        "footer",
        "color",
        "mrkdwn_in",
    ]
    assert json.loads(json.dumps(message)) == message


def test_long_title_is_cut_like_alertmanager() -> None:
    """A title over 1,024 characters is cut to 1,023 and an ellipsis (Alertmanager 0.25's rule)."""
    config = parse_routing_config(
        f"{ROUTE}receivers: [{{name: team, slack_configs: [{{api_url: x,"
        " title: '{{ range .Alerts }}é{{ end }}{{ printf \"%01100d\" 0 }}'}]}]"
    )
    [notification] = _notifications(config)
    title = SlackNotifier(notification.integration.settings).message(notification)["attachments"][
        0
    ]["title"]
    assert len(title) == 1024
    assert title.startswith("éé0")
    assert title.endswith("0…")
