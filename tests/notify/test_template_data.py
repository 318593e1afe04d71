"""Notification templates see Alertmanager's data and render as the real Alertmanager does.

Each case is rendered by vigie and by the real ``amtool template render`` (Debian
``prometheus-alertmanager`` 0.25, with its own default.tmpl) on the same alert group: the text
must be byte for byte the same.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support import require_binary
from vigie.notify.alert import Alert
from vigie.notify.message_templates import MessageTemplates
from vigie.notify.payload import webhook_payload
from vigie.notify.template_data import ALERTMANAGER, KV, quote_meta, template_data
from vigie.rules.templating import Template, TemplateError

T0 = datetime(2026, 3, 4, 15, 6, 7, tzinfo=UTC)
NOW = T0 + timedelta(minutes=10)
DEBIAN_TEMPLATES = Path("/usr/share/prometheus/alertmanager")


def _alert(instance: str, *, resolved: bool = False, **extra: str) -> Alert:
    labels = {"alertname": "HighLatency", "job": "api", "severity": "critical"}
    return Alert(
        {**labels, "instance": instance, **extra},
        {"summary": f"{instance} is slow", "runbook_url": "http://runbooks.example/HighLatency"},
        starts_at=T0,
        ends_at=T0 + timedelta(minutes=5) if resolved else NOW + timedelta(minutes=5),
        generator_url=f"http://prometheus.example/graph?i={instance}",
    )


GROUPS = {
    "mixed": ({"alertname": "HighLatency"}, [_alert("a:1"), _alert("b:2", resolved=True)]),
    "resolved": ({"alertname": "HighLatency"}, [_alert("a:1", resolved=True)]),
    "no-rest": (
        {"alertname": "HighLatency", "job": "api", "severity": "critical"},
        [_alert("a:1", zone="x"), _alert("b:2", zone="y")],
    ),
    "ungrouped": ({}, [_alert("a:1"), _alert("b:2")]),
}

CASES = [
    '{{ template "__subject" . }}',
    '{{ template "slack.default.title" . }}',
    '{{ template "slack.default.text" . }}{{ template "slack.default.pretext" . }}',
    '{{ template "discord.default.title" . }}',
    '{{ template "discord.default.message" . }}',
    '{{ template "telegram.default.message" . }}',
    '{{ template "email.default.subject" . }}',
    '{{ template "__text_alert_list" .Alerts.Resolved }}',
    "{{ .Status }} {{ .Receiver }} {{ len .Alerts }} {{ len .Alerts.Firing }}",
    "{{ .CommonLabels }} {{ .GroupLabels.Names }} {{ .CommonAnnotations.Values }}",
    "{{ .CommonLabels.SortedPairs }} {{ .CommonLabels.nothing }}|",
    '{{ .CommonLabels.Remove (stringSlice "job" "severity") }}',
    '{{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Names | join "," }}{{ end }}',
    "{{ range $k, $v := .CommonLabels }}{{ $k }}={{ $v }};{{ end }}",
    "{{ range .Alerts }}{{ .Status }} {{ .Fingerprint }} {{ .StartsAt }} {{ .EndsAt }}\n{{ end }}",
    '{{ range .Alerts }}{{ .StartsAt.Format "Mon Jan _2 15:04:05 MST 2006" }};{{ end }}',
    "{{ range .Alerts.Firing }}{{ .Labels.instance }} {{ .Annotations.summary }}{{ end }}",
    '{{ (index .Alerts 0).Labels.SortedPairs.Values | join " " }} {{ index .Alerts 0 }}',
    '{{ toUpper "abc" }} {{ toLower "ABC" }} {{ title "hello wORLD don\'t" }}',
    '{{ match "^High" .CommonLabels.alertname }} {{ match "^x" .Status }}',
    '{{ reReplaceAll "(a+)b" "<$1>" "caaab" }} {{ printf "%s-%d" .Status 3 }}',
    '{{ if eq .Status "firing" }}F{{ else }}R{{ end }} {{ .ExternalURL }}',
    '{{ define "mine" }}<{{ .Status }}>{{ end }}{{ template "mine" . }}',
    "{{ .Alerts.Firing }}",
]


def _amtool(tmp_path: Path, group: str, texts: list[str], kind: str = "text") -> list[str]:
    amtool = require_binary("amtool", package="prometheus-alertmanager")
    labels, alerts = GROUPS[group]
    payload = webhook_payload(
        receiver="team",
        group_key_text="{}:{}",
        group_labels=labels,
        alerts=alerts,
        now=NOW,
        external_url="http://vigie.example",
    )
    data = tmp_path / f"{group}.json"
    data.write_text(json.dumps(payload))
    separator = "\n@@@\n"
    completed = subprocess.run(
        [amtool, "template", "render", f"--template.type={kind}",
         f"--template.glob={DEBIAN_TEMPLATES / 'default.tmpl'}",
         f"--template.glob={DEBIAN_TEMPLATES / 'email.tmpl'}",
         f"--template.data={data}", f"--template.text={separator.join(texts)}"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    # amtool prints a newline after the rendering.
    return completed.stdout.removesuffix("\n").split(separator)


def _vigie(group: str, text: str, *, as_html: bool = False) -> str:
    labels, alerts = GROUPS[group]
    data = template_data("team", labels, alerts, now=NOW, external_url="http://vigie.example")
    return MessageTemplates.load([]).render(text, data, as_html=as_html)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_same_rendering_as_alertmanager(tmp_path: Path, group: str) -> None:
    """Default templates, data fields, methods and functions render as amtool renders them."""
    expected = _amtool(tmp_path, group, CASES)
    assert len(expected) == len(CASES)
    for text, wanted in zip(CASES, expected, strict=True):
        assert _vigie(group, text) == wanted, text


def test_same_html_escaping_as_alertmanager(tmp_path: Path) -> None:
    """An HTML template escapes printed values as html/template does; safeHtml is kept."""
    cases = [
        '<p>{{ "<b>\\"x\\" & \'y\'+</b>" }}</p>',
        '<p>{{ safeHtml "<i>ok</i>" }} {{ .CommonLabels.alertname }}</p>',
        '<a href="http://x/?q={{ .Status }}">{{ template "__subject" . }}</a>',
    ]
    expected = _amtool(tmp_path, "mixed", cases, kind="html")
    for text, wanted in zip(cases, expected, strict=True):
        assert _vigie("mixed", text, as_html=True) == wanted, text


def test_receiver_is_quoted_like_alertmanager() -> None:
    """The receiver name goes through Go's regexp.QuoteMeta, as in Alertmanager's data."""
    assert quote_meta("team.a+b (eu)") == "team\\.a\\+b \\(eu\\)"
    data = template_data("a.b", {}, [_alert("a:1")], now=NOW)
    assert data.Receiver == "a\\.b"


def test_kv_methods() -> None:
    """SortedPairs puts alertname first; Remove, Names and Values follow it."""
    labels = KV({"zone": "z", "alertname": "A", "job": "j"})
    assert [pair.Name for pair in labels.sorted_pairs()] == ["alertname", "job", "zone"]
    text = '{{ .Names }} {{ .Values }} {{ (.Remove (stringSlice "job")).Names }}'
    rendered = Template(text, dialect=ALERTMANAGER).execute(labels)
    assert rendered == "[alertname job zone] [A j z] [alertname zone]"


def test_time_functions() -> None:
    """date, tz, since and humanizeDuration work on alert times."""
    data = template_data("team", {}, [_alert("a:1")], now=NOW)
    text = (
        '{{ with index .Alerts 0 }}{{ .StartsAt | date "2006-01-02 15:04" }} '
        '{{ (.StartsAt | tz "Europe/Paris").Format "15:04 MST" }} '
        "{{ .StartsAt | since | humanizeDuration }}{{ end }}"
    )
    rendered = Template(text, dialect=ALERTMANAGER).execute(data)
    assert re.fullmatch(r"2026-03-04 15:06 16:06 CET \d+d \d+h \d+m \d+s", rendered), rendered


def test_execution_errors_read_like_go() -> None:
    """A bad field, a wrong method call and an unknown zone fail with Go's wording."""
    data = template_data("team", {}, [_alert("a:1")], now=NOW)
    for text, message in [
        ("{{ .Nope }}", "can't evaluate field Nope in type *template.Data"),
        ("{{ .CommonLabels.Remove }}", "wrong number of args for Remove: want 1 got 0"),
        ('{{ (index .Alerts 0).StartsAt | tz "Nowhere/City" }}', "unknown time zone Nowhere/City"),
        ('{{ join "," .Status }}', "expected []string"),
    ]:
        with pytest.raises(TemplateError, match=message.replace("[", r"\[").replace("*", r"\*")):
            Template(text, "t", dialect=ALERTMANAGER).execute(data)
