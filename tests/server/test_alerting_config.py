"""The vigie.alerting, vigie.rule_packs and vigie.quality config sections, and their reload."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from support.vigie_server import running_vigie
from support.webhook_sink import WebhookSink
from vigie.exceptions import ConfigurationError
from vigie.rules.packs.ai import render_ai_pack
from vigie.server.config import load_config, parse_config
from vigie.server.config_model import AIPackSettings
from vigie.server.rule_evaluation import render_pack

ROUTED = """\
vigie:
  self_monitoring: {{enabled: false}}
  telemetry: {{enabled: false}}
  rule_packs:
    ai: {{enabled: {pack}}}
  alerting:
    routing:
      route: {{receiver: hook, group_wait: 100ms, group_interval: 1s}}
      receivers:
        - name: hook
          webhook_configs: [{{url: "{url}"}}]
"""


def test_inline_routing_errors_carry_the_config_file_line() -> None:
    """An error inside inline routing names the config file, its line and the routing field."""
    text = (
        "vigie:\n  alerting:\n    routing:\n      route:\n        receiver: team\n"
        "        group_wait: soon\n      receivers: [{name: team}]\n"
    )
    with pytest.raises(ConfigurationError) as caught:
        parse_config(text, path="vigie.yml")
    assert str(caught.value).startswith("vigie.yml:6: vigie.alerting.routing: route.group_wait:")


def test_routing_file_is_relative_to_the_config(tmp_path: Path) -> None:
    """routing_file is read relative to the config file; its errors name that file."""
    (tmp_path / "am.yml").write_text("route: {receiver: a}\nreceivers: [{name: a}]\n")
    config = tmp_path / "vigie.yml"
    config.write_text("vigie:\n  alerting:\n    routing_file: am.yml\n")
    routing = load_config(config).vigie.alerting.routing
    assert routing is not None
    assert list(routing.receivers) == ["a"]
    (tmp_path / "am.yml").write_text("route: {receiver: missing}\nreceivers: [{name: a}]\n")
    with pytest.raises(ConfigurationError, match=r"am\.yml:1"):
        load_config(config)
    config.write_text("vigie:\n  alerting:\n    routing_file: nope.yml\n")
    with pytest.raises(ConfigurationError, match=r"vigie\.yml:3: vigie\.alerting\.routing_file"):
        load_config(config)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("alerting: {external_url: ftp://x}", "vigie.alerting.external_url: expected an http"),
        ("alerting: {retry: {initial_backoff: 0s}}", "vigie.alerting.retry.initial_backoff"),
        ("rule_packs: {ai: {thresholds: {nope: 1}}}", "vigie.rule_packs.ai.thresholds.nope"),
        ("rule_packs: {ai: {for_scale: 0}}", "vigie.rule_packs.ai.for_scale: expected a number"),
        ("rule_packs: {other: {}}", "vigie.rule_packs.other: unknown field"),
        ("quality: {check_interval: never}", "vigie.quality.check_interval"),
    ],
)
def test_bad_values_name_file_line_and_field(section: str, message: str) -> None:
    """Each bad value is refused with vigie.yml:2 and its dotted field."""
    with pytest.raises(ConfigurationError) as caught:
        parse_config(f"vigie:\n  {section}\n", path="vigie.yml")
    assert str(caught.value).startswith("vigie.yml:2: ")
    assert message in str(caught.value)


def test_sections_read() -> None:
    """Thresholds, for_scale, external_url, retry and quality settings are read."""
    settings = parse_config(
        "vigie:\n  alerting: {external_url: 'http://v:1/', retry: {max_backoff: 5s}}\n"
        "  rule_packs: {ai: {thresholds: {http_error_ratio: [0.01, 0.02]}, for_scale: 0.5}}\n"
        "  quality: {enabled: false, check_interval: 10s}\n"
    ).vigie
    assert (settings.alerting.external_url, settings.alerting.retry_max_ms) == ("http://v:1", 5000)
    assert settings.ai_pack.enabled
    assert settings.ai_pack.thresholds.http_error_ratio == (0.01, 0.02)
    assert settings.ai_pack.for_scale == 0.5
    assert (settings.quality.enabled, settings.quality.check_interval_ms) == (False, 10_000)


def test_for_scale_scales_every_for() -> None:
    """for_scale multiplies each rule's for; scale 1 is the pack's own text."""
    assert render_pack(AIPackSettings(enabled=True)) == render_ai_pack()
    normal = yaml.safe_load(render_ai_pack())
    scaled = yaml.safe_load(render_pack(AIPackSettings(enabled=True, for_scale=0.1)))
    fors = [(r["for"]) for g in scaled["groups"] for r in g["rules"] if "for" in r]
    assert len(fors) == sum(1 for g in normal["groups"] for r in g["rules"] if "for" in r)
    target_down = next(
        r for g in scaled["groups"] for r in g["rules"] if r.get("alert") == "TargetDown"
    )
    assert target_down["for"] == "6000ms"


def test_time_scale_compresses_windows_and_fors() -> None:
    """time_scale in the config divides every for and range window of the pack."""
    config = parse_config(
        "vigie:\n  rule_packs:\n    ai: {enabled: true, time_scale: 10}\n", path="vigie.yml"
    )
    settings = config.vigie.ai_pack
    assert settings.time_scale == 10
    text = render_pack(settings)
    assert text == render_ai_pack(time_scale=10)
    assert "[5m]" not in text
    assert "[30s]" in text
    with pytest.raises(ConfigurationError, match="time_scale"):
        parse_config("vigie:\n  rule_packs:\n    ai: {time_scale: 0.5}\n", path="vigie.yml")


def test_reload_applies_routing_and_pack(tmp_path: Path) -> None:
    """POST /-/reload switches the receivers and turns the AI pack on and off."""
    with (
        WebhookSink() as sink,
        running_vigie(ROUTED.format(pack="false", url=f"{sink.url}/old"), tmp_path) as url,
    ):

        def groups() -> list[str]:
            data = httpx.get(f"{url}/api/v1/rules", timeout=5).json()["data"]
            return [group["name"] for group in data["groups"]]

        assert groups() == []
        alert = [{"labels": {"alertname": "A"}}]
        httpx.post(f"{url}/api/v2/alerts", json=alert, timeout=5)
        sink.wait_for(1, prefix="/old")
        (tmp_path / "vigie.yml").write_text(ROUTED.format(pack="true", url=f"{sink.url}/new"))
        assert httpx.post(f"{url}/-/reload", timeout=10).status_code == 200
        assert "vigie-ai-http" in groups()
        assert (tmp_path / "data" / "rule_packs" / "ai.rules.yml").is_file()
        httpx.post(f"{url}/api/v2/alerts", json=[{"labels": {"alertname": "B"}}], timeout=5)
        assert len(sink.wait_for(1, prefix="/new")) == 1
        (tmp_path / "vigie.yml").write_text(ROUTED.format(pack="false", url=f"{sink.url}/new"))
        assert httpx.post(f"{url}/-/reload", timeout=10).status_code == 200
        assert groups() == []


TEMPLATED = """\
vigie:
  self_monitoring: {{enabled: false}}
  telemetry: {{enabled: false}}
  alerting:
    routing:
      route: {{receiver: hook, group_by: [alertname], group_wait: 100ms, group_interval: 1s}}
      templates: [notify/*.tmpl]
      receivers:
        - name: hook
          apprise_configs:
            - urls: ["json://{address}/chat"]
              title: '{{{{ template "hook.title" . }}}}'
"""


def test_template_file_errors_name_the_template_file(tmp_path: Path) -> None:
    """A template file that does not parse makes the config error name that file and line."""
    (tmp_path / "notify").mkdir()
    (tmp_path / "notify" / "a.tmpl").write_text('\n{{ define "hook.title" }}{{ .X }{{ end }}\n')
    config = tmp_path / "vigie.yml"
    config.write_text(TEMPLATED.format(address="127.0.0.1:9"))
    with pytest.raises(ConfigurationError) as caught:
        load_config(config)
    assert caught.value.path == str(tmp_path / "notify" / "a.tmpl")
    assert caught.value.line == 2


def test_reload_with_a_bad_template_keeps_the_running_one(tmp_path: Path) -> None:
    """A reload whose template is broken is refused; notifications keep the old template."""
    (tmp_path / "notify").mkdir()
    template = tmp_path / "notify" / "hook.tmpl"
    template.write_text('{{ define "hook.title" }}v1 {{ .CommonLabels.alertname }}{{ end }}')
    with WebhookSink() as sink:
        address = sink.url.removeprefix("http://")
        with running_vigie(TEMPLATED.format(address=address), tmp_path) as url:
            httpx.post(f"{url}/api/v2/alerts", json=[{"labels": {"alertname": "A"}}], timeout=5)
            assert [b["title"] for b in sink.wait_for(1, prefix="/chat")] == ["v1 A"]
            template.write_text('{{ define "hook.title" }}v2 {{ .CommonLabels.nope }{{ end }}')
            refused = httpx.post(f"{url}/-/reload", timeout=10)
            assert refused.status_code == 500
            assert f"{template}:1:" in refused.text
            httpx.post(f"{url}/api/v2/alerts", json=[{"labels": {"alertname": "B"}}], timeout=5)
            titles = [b["title"] for b in sink.wait_for(2, prefix="/chat")]
            assert titles == ["v1 A", "v1 B"]
            template.write_text('{{ define "hook.title" }}v3 {{ .Status }}{{ end }}')
            assert httpx.post(f"{url}/-/reload", timeout=10).status_code == 200
            httpx.post(f"{url}/api/v2/alerts", json=[{"labels": {"alertname": "C"}}], timeout=5)
            assert [b["title"] for b in sink.wait_for(3, prefix="/chat")][2] == "v3 firing"
