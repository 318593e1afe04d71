"""The server config `vigie demo` writes is valid for the server and routes to the sink."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vigie.demo.stack_config import SINK_RECEIVER, StackFiles, write_stack_config
from vigie.exceptions import ConfigurationError
from vigie.notify.config import load_routing_config
from vigie.server.config import load_config

RULES = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vector(1)\n"


def _files(**changes: object) -> StackFiles:
    values: dict[str, object] = {
        "app_address": "127.0.0.1:8000",
        "sink_url": "http://127.0.0.1:9899/webhook",
        "external_url": "http://127.0.0.1:9800",
        "rules_text": RULES,
    }
    values.update(changes)
    return StackFiles(**values)  # type: ignore[arg-type]


def test_the_config_loads_in_the_server(tmp_path: Path) -> None:
    """vigie.yml scrapes the app, loads the rules and routes everything to the sink."""
    path = write_stack_config(tmp_path, _files())
    config = load_config(str(path))
    assert [job.job_name for job in config.scrape_configs] == ["faq"]
    assert config.global_config.scrape_interval_ms == 2000
    assert config.global_config.evaluation_interval_ms == 2000
    assert config.rule_files == ("ai-demo.rules.yml",)
    assert (tmp_path / "ai-demo.rules.yml").read_text() == RULES
    assert config.vigie.alerting.external_url == "http://127.0.0.1:9800"
    routing = config.vigie.alerting.routing
    assert routing is not None
    assert routing.route.receiver == SINK_RECEIVER


def test_the_users_routing_is_kept_below_the_sink(tmp_path: Path) -> None:
    """--routing FILE: its receivers and tree still get the alerts, after the sink."""
    user = tmp_path / "mine.yml"
    user.write_text(
        "route:\n  receiver: team\n  routes:\n    - receiver: pager\n"
        "      matchers: ['severity=\"critical\"']\n"
        "receivers:\n  - name: team\n    webhook_configs: [{url: 'http://127.0.0.1:1/a'}]\n"
        "  - name: pager\n    webhook_configs: [{url: 'http://127.0.0.1:1/b'}]\n"
    )
    write_stack_config(tmp_path / "demo", _files(user_routing=user))
    routing = load_routing_config(str(tmp_path / "demo" / "alertmanager.yml"))
    receivers = [route.receiver for route in routing.route.match({"severity": "critical"})]
    assert receivers == [SINK_RECEIVER, "pager"]
    receivers = [route.receiver for route in routing.route.match({"severity": "warning"})]
    assert receivers == [SINK_RECEIVER, "team"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("route: [\n", "not valid YAML"),
        ("receivers: []\n", "with a 'route' mapping"),
        (f"route: {{receiver: {SINK_RECEIVER}}}\nreceivers: [{{name: {SINK_RECEIVER}}}]\n",
         "reserved"),
    ],
)  # fmt: skip
def test_bad_user_routing_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    """A broken --routing file is a configuration error naming the file."""
    user = tmp_path / "bad.yml"
    user.write_text(text)
    with pytest.raises(ConfigurationError, match=message) as raised:
        write_stack_config(tmp_path / "demo", _files(user_routing=user))
    assert raised.value.path == str(user)


def test_written_yaml_is_plain(tmp_path: Path) -> None:
    """The routing file is ordinary Alertmanager YAML (amtool can read it)."""
    write_stack_config(tmp_path, _files())
    routing = yaml.safe_load((tmp_path / "alertmanager.yml").read_text())
    assert routing["receivers"] == [
        {"name": SINK_RECEIVER, "webhook_configs": [{"url": "http://127.0.0.1:9899/webhook"}]}
    ]
    assert routing["route"]["group_wait"] == "1s"
