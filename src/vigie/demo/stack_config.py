"""The files ``vigie demo`` writes for its server: ``vigie.yml``, ``alertmanager.yml``, the rules.

The server scrapes the demo app every ``scrape_interval`` and evaluates the (time-compressed)
AI rule pack every ``evaluation_interval``; its routing sends every alert to the demo's webhook
sink (short ``group_wait`` / ``group_interval`` so a drill shows its notifications within
seconds) and, when the user gives ``--routing FILE``, also through that file's own route tree
(``continue: true``), to its receivers.

Example::

    write_stack_config(Path("vigie-demo"), StackFiles(app_address="127.0.0.1:8000",
        sink_url="http://127.0.0.1:9899/webhook", external_url="http://127.0.0.1:9800",
        rules_text=rules))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vigie.exceptions import ConfigurationError

__all__ = ["SINK_RECEIVER", "StackFiles", "demo_routing", "write_stack_config"]

#: The receiver name of the demo's webhook sink.
SINK_RECEIVER = "vigie-demo-sink"
CONFIG_FILE = "vigie.yml"
ROUTING_FILE = "alertmanager.yml"
RULES_FILE = "ai-demo.rules.yml"


@dataclass(frozen=True)
class StackFiles:
    """What the server's configuration depends on."""

    app_address: str
    sink_url: str
    external_url: str
    rules_text: str
    scrape_interval: str = "2s"
    evaluation_interval: str = "2s"
    group_wait: str = "1s"
    group_interval: str = "2s"
    user_routing: Path | None = None


def demo_routing(files: StackFiles) -> dict[str, Any]:
    """The Alertmanager routing: everything to the sink, plus the user's tree if any."""
    sink = {"name": SINK_RECEIVER, "webhook_configs": [{"url": files.sink_url}]}
    root: dict[str, Any] = {
        "receiver": SINK_RECEIVER,
        "group_by": ["alertname", "job"],
        "group_wait": files.group_wait,
        "group_interval": files.group_interval,
        "repeat_interval": "1h",
    }
    if files.user_routing is None:
        return {"route": root, "receivers": [sink]}
    user = _read_user_routing(files.user_routing)
    receivers = list(user.get("receivers") or [])
    if any(isinstance(item, dict) and item.get("name") == SINK_RECEIVER for item in receivers):
        raise ConfigurationError(
            f"receiver name {SINK_RECEIVER!r} is reserved by the demo",
            path=str(files.user_routing),
            field="receivers",
        )
    user_route = dict(user.get("route") or {})
    # The sink first (continue), then the user's own tree, unchanged, as a child route.
    root["routes"] = [{"receiver": SINK_RECEIVER, "continue": True}, user_route]
    routing = {key: value for key, value in user.items() if key not in ("route", "receivers")}
    routing.update({"route": root, "receivers": [sink, *receivers]})
    return routing


def _read_user_routing(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigurationError(
            f"cannot read: {error.strerror}", path=str(path), field="--routing"
        ) from None
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        raise ConfigurationError(
            f"not valid YAML: {getattr(error, 'problem', error)}",
            path=str(path),
            line=None if line is None else line + 1,
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("route"), dict):
        raise ConfigurationError(
            "expected an Alertmanager configuration with a 'route' mapping", path=str(path)
        )
    return data


def write_stack_config(folder: Path, files: StackFiles) -> Path:
    """Write the rules, the routing and ``vigie.yml`` into ``folder``; returns ``vigie.yml``."""
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / RULES_FILE, files.rules_text)
    routing = demo_routing(files)
    _write(folder / ROUTING_FILE, yaml.safe_dump(routing, sort_keys=False))
    config = {
        "global": {
            "scrape_interval": files.scrape_interval,
            "scrape_timeout": files.scrape_interval,
            "evaluation_interval": files.evaluation_interval,
        },
        "rule_files": [RULES_FILE],
        "scrape_configs": [
            {"job_name": "faq", "static_configs": [{"targets": [files.app_address]}]}
        ],
        "vigie": {
            "alerting": {"routing_file": ROUTING_FILE, "external_url": files.external_url},
        },
    }
    header = "# Written by `vigie demo` at each start; edit the options of `vigie demo` instead.\n"
    path = folder / CONFIG_FILE
    _write(path, header + yaml.safe_dump(config, sort_keys=False))
    return path


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
