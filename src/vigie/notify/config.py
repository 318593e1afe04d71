"""Routing configuration in Alertmanager's format: what a single team's alertmanager.yml holds.

vigie reads ``global`` (``resolve_timeout`` and the SMTP, Slack and Telegram defaults), ``route``
(matchers, ``group_by`` including ``...``, ``group_wait``, ``group_interval``, ``repeat_interval``,
``continue``, ``mute_time_intervals``, ``active_time_intervals``, nested ``routes``),
``inhibit_rules``, ``receivers`` (webhook, Discord, Slack, e-mail, Microsoft Teams, Telegram, and
vigie's ``apprise_configs`` for any other channel apprise knows), ``time_intervals`` /
``mute_time_intervals`` and ``templates`` (parsed, with every receiver's template fields, by
:mod:`vigie.notify.message_templates`). Unknown keys are errors, as in Alertmanager, and every
error names the file and line.

Example::

    >>> config = parse_routing_config('''
    ... route:
    ...   receiver: team
    ...   group_by: [alertname]
    ... receivers:
    ...   - name: team
    ...     webhook_configs: [{url: "http://127.0.0.1:5001/hook"}]
    ... ''')
    >>> config.route.group_wait.total_seconds(), config.receivers["team"].integrations[0].kind
    (30.0, 'webhook')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser

from vigie.exceptions import ConfigurationError, RoutingConfigError
from vigie.notify.matchers import format_matchers, parse_matcher, parse_matchers
from vigie.notify.message_templates import MessageTemplates
from vigie.notify.slack import slack_problem
from vigie.notify.time_intervals import TimeInterval
from vigie.store.interface import Matcher
from vigie.yaml_source import LineDict, LineList, load_yaml

__all__ = [
    "InhibitRule",
    "Integration",
    "Receiver",
    "Route",
    "RoutingConfig",
    "load_routing_config",
    "parse_duration",
    "parse_routing_config",
]

#: Whether each integration sends resolved notifications unless told otherwise (Alertmanager's).
SEND_RESOLVED_DEFAULTS = {
    "webhook": True,
    "discord": True,
    "slack": False,
    "email": False,
    "msteams": True,
    "telegram": True,
    "apprise": True,
}
_INTEGRATION_KEYS = {f"{kind}_configs": kind for kind in SEND_RESOLVED_DEFAULTS}
_REQUIRED_SETTINGS = {
    "webhook": ("url",),
    "discord": ("webhook_url",),
    "slack": (),  # api_url or api_url_file: vigie.notify.slack.slack_problem
    "email": ("to", "smarthost", "from"),
    "msteams": ("webhook_url",),
    "telegram": ("bot_token", "chat_id"),
    "apprise": ("urls",),
}
_GLOBAL_KEYS = {
    "resolve_timeout",
    "smtp_from",
    "smtp_smarthost",
    "smtp_hello",
    "smtp_auth_username",
    "smtp_auth_password",
    "smtp_auth_identity",
    "smtp_require_tls",
    "slack_api_url",
    "slack_api_url_file",
    "telegram_api_url",
    "http_config",
}
_ROUTE_KEYS = {
    "receiver",
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "matchers",
    "match",
    "match_re",
    "continue",
    "routes",
    "mute_time_intervals",
    "active_time_intervals",
}
_TOP_KEYS = {
    "global",
    "route",
    "receivers",
    "inhibit_rules",
    "time_intervals",
    "mute_time_intervals",
    "templates",
}


def parse_duration(text: object, *, allow_zero: bool = True) -> timedelta:
    """A Prometheus duration such as ``30s``, ``5m``, ``1h30m``, ``1d``."""
    value = str(text).strip()
    if value in {"0", "0s", "0ms", "0m", "0h"}:
        if allow_zero:
            return timedelta(0)
        raise ValueError("duration must be greater than 0")
    duration = promql_parser.parse_duration(value)
    if not isinstance(duration, timedelta):
        raise ValueError(f"not a valid duration string: {value}")
    return duration


@dataclass
class Integration:
    """One delivery channel of a receiver (a webhook URL, a Discord hook, a mailbox, ...)."""

    kind: str
    send_resolved: bool
    settings: dict[str, Any]


@dataclass
class Receiver:
    """A named set of integrations that alerts are routed to."""

    name: str
    integrations: list[Integration] = field(default_factory=list)


@dataclass
class Route:
    """A node of the routing tree; children inherit the grouping and timing options."""

    receiver: str
    group_by: tuple[str, ...] = ()
    group_by_all: bool = False
    group_wait: timedelta = timedelta(seconds=30)
    group_interval: timedelta = timedelta(minutes=5)
    repeat_interval: timedelta = timedelta(hours=4)
    matchers: list[Matcher] = field(default_factory=list)
    continue_matching: bool = False
    routes: list[Route] = field(default_factory=list)
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    parent: Route | None = field(default=None, repr=False)
    index: int = 0

    def key(self) -> str:
        """Alertmanager's route key: the matchers of each ancestor, joined with ``/``."""
        own = format_matchers(self.matchers)
        return own if self.parent is None else f"{self.parent.key()}/{own}"

    def identifier(self) -> str:
        """The route key plus the position among its siblings, unique in the tree."""
        return self.key() if self.parent is None else f"{self.key()}/{self.index}"

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with ``labels`` goes to, depth first, honouring ``continue``."""
        if not all(matcher.matches(labels.get(matcher.name, "")) for matcher in self.matchers):
            return []
        found: list[Route] = []
        for child in self.routes:
            matched = child.match(labels)
            found.extend(matched)
            if matched and not child.continue_matching:
                break
        return found or [self]

    def walk(self) -> list[Route]:
        """This route and all its descendants, depth first."""
        return [self, *(node for child in self.routes for node in child.walk())]


@dataclass
class InhibitRule:
    """Mute alerts matching ``target`` while one matching ``source`` fires with ``equal`` labels."""

    source_matchers: list[Matcher]
    target_matchers: list[Matcher]
    equal: tuple[str, ...] = ()


@dataclass
class RoutingConfig:
    """A whole routing configuration."""

    route: Route
    receivers: dict[str, Receiver]
    inhibit_rules: list[InhibitRule] = field(default_factory=list)
    time_intervals: dict[str, list[TimeInterval]] = field(default_factory=dict)
    resolve_timeout: timedelta = timedelta(minutes=5)
    templates: list[str] = field(default_factory=list)
    source: str = "<string>"
    #: The defaults and the ``templates`` files, parsed (titles and bodies of notifications).
    message_templates: MessageTemplates = field(default_factory=lambda: MessageTemplates.load([]))


def load_routing_config(path: str | Path) -> RoutingConfig:
    """Read and validate an Alertmanager-format file."""
    location = Path(path)
    try:
        text = location.read_text(encoding="utf-8")
    except OSError as error:
        raise RoutingConfigError(f"cannot read: {error.strerror}", source=str(location)) from None
    return parse_routing_config(text, source=str(location))


def parse_routing_config(text: str, *, source: str = "<string>") -> RoutingConfig:
    """Parse and validate Alertmanager-format YAML text; errors name ``source`` and the line."""
    try:
        document = load_yaml(text, source=source)
    except ConfigurationError as error:
        raise RoutingConfigError(error.message, source=source, line=error.line) from None
    return _Builder(source).build(document)


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.message_templates = MessageTemplates.load([])

    def fail(self, message: str, container: Any = None, key: Any = None) -> RoutingConfigError:
        line = None
        if isinstance(container, LineDict | LineList):
            line = container.line_of(key) if key is not None else container.line
        return RoutingConfigError(message, source=self.source, line=line)

    def mapping(self, value: Any, where: str, parent: Any = None, key: Any = None) -> LineDict:
        if value is None:
            empty = LineDict()
            empty.key_lines = {}
            return empty
        if not isinstance(value, LineDict):
            raise self.fail(f"{where}: expected a mapping", parent, key)
        return value

    def sequence(self, container: LineDict, key: str, where: str) -> list[Any]:
        """``container[key]`` as a list (absent or null: empty); anything else is an error."""
        value = container.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(f"{where}.{key}: expected a list", container, key)
        return value

    def submapping(self, container: LineDict, key: str, where: str) -> dict[Any, Any]:
        """``container[key]`` as a mapping (absent or null: empty); anything else is an error."""
        value = container.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"{where}.{key}: expected a mapping", container, key)
        return value

    def known(self, mapping: LineDict, allowed: set[str], where: str) -> None:
        for key in mapping:
            if key not in allowed:
                raise self.fail(f"{where}: unknown field {key!r}", mapping, key)

    def duration(self, mapping: LineDict, key: str, where: str, *, allow_zero: bool) -> timedelta:
        try:
            return parse_duration(mapping[key], allow_zero=allow_zero)
        except ValueError as error:
            raise self.fail(f"{where}.{key}: {error}", mapping, key) from None

    def build(self, document: Any) -> RoutingConfig:
        top = self.mapping(document, "config")
        self.known(top, _TOP_KEYS, "config")
        global_section = self.mapping(top.get("global"), "global", top, "global")
        self.known(global_section, _GLOBAL_KEYS, "global")
        resolve_timeout = timedelta(minutes=5)
        if "resolve_timeout" in global_section:
            resolve_timeout = self.duration(
                global_section, "resolve_timeout", "global", allow_zero=False
            )
        intervals = self.time_intervals(top)
        templates = self.sequence(top, "templates", "config")
        self.message_templates = self.load_templates(top, [str(item) for item in templates])
        receivers = self.receivers(top, global_section)
        if "route" not in top:
            raise self.fail("no route provided in config", top)
        route_section = self.mapping(top["route"], "route", top, "route")
        root = self.route(route_section, None, 0, "route")
        if root.matchers:
            raise self.fail("root route must not have any matchers", route_section)
        if not root.receiver:
            raise self.fail("root route must specify a default receiver", route_section)
        for node in root.walk():
            if node.receiver not in receivers:
                raise self.fail(f"undefined receiver {node.receiver!r} used in route", top, "route")
            for name in (*node.mute_time_intervals, *node.active_time_intervals):
                if name not in intervals:
                    raise self.fail(f"undefined time interval {name!r} used in route", top, "route")
        return RoutingConfig(
            route=root,
            receivers=receivers,
            inhibit_rules=self.inhibit_rules(top),
            time_intervals=intervals,
            resolve_timeout=resolve_timeout,
            templates=[str(item) for item in templates],
            source=self.source,
            message_templates=self.message_templates,
        )

    def load_templates(self, top: LineDict, patterns: list[str]) -> MessageTemplates:
        """The template files, globs relative to this file (Alertmanager resolves them so)."""
        base = None if self.source.startswith("<") else Path(self.source).parent
        try:
            return MessageTemplates.load(patterns, base=base)
        except RoutingConfigError as error:
            if error.source:  # an error in a template file names that file
                raise
            raise self.fail(error.message, top, "templates") from None

    def route(self, raw: LineDict, parent: Route | None, index: int, where: str) -> Route:
        self.known(raw, _ROUTE_KEYS, where)
        node = Route(receiver=parent.receiver if parent else "", parent=parent, index=index)
        if parent is not None:
            node.group_by, node.group_by_all = parent.group_by, parent.group_by_all
            node.group_wait, node.group_interval = parent.group_wait, parent.group_interval
            node.repeat_interval = parent.repeat_interval
        if raw.get("receiver"):
            node.receiver = str(raw["receiver"])
        if "group_by" in raw:
            labels = [str(item) for item in self.sequence(raw, "group_by", where)]
            node.group_by_all = "..." in labels
            if node.group_by_all and len(labels) > 1:
                raise self.fail(f"{where}.group_by: '...' must be alone", raw, "group_by")
            node.group_by = () if node.group_by_all else tuple(labels)
            if len(set(labels)) != len(labels):
                raise self.fail(f"{where}.group_by: duplicate label", raw, "group_by")
        if "group_wait" in raw:
            node.group_wait = self.duration(raw, "group_wait", where, allow_zero=True)
        for key in ("group_interval", "repeat_interval"):
            if key in raw:
                setattr(node, key, self.duration(raw, key, where, allow_zero=False))
        node.matchers = self.route_matchers(raw, where)
        node.continue_matching = bool(raw.get("continue", False))
        node.mute_time_intervals = tuple(
            str(v) for v in self.sequence(raw, "mute_time_intervals", where)
        )
        node.active_time_intervals = tuple(
            str(v) for v in self.sequence(raw, "active_time_intervals", where)
        )
        children = self.sequence(raw, "routes", where)
        for position, child in enumerate(children):
            child_where = f"{where}.routes[{position}]"
            child_raw = self.mapping(child, child_where, children, position)
            node.routes.append(self.route(child_raw, node, position, child_where))
        return node

    def route_matchers(self, raw: LineDict, where: str) -> list[Matcher]:
        found: list[Matcher] = []
        match = self.submapping(raw, "match", where)
        match_re = self.submapping(raw, "match_re", where)
        texts = self.sequence(raw, "matchers", where)
        try:
            for name, value in match.items():
                found.append(Matcher(str(name), "=", str(value)))
            for name, value in match_re.items():
                found.append(parse_matcher(f"{name}=~{_quote(str(value))}"))
            for text in texts:
                found.extend(parse_matchers(str(text)))
        except RoutingConfigError as error:
            key = "matchers" if "matchers" in raw else "match_re"
            raise self.fail(f"{where}: {error.message}", raw, key) from None
        return found

    def receivers(self, top: LineDict, global_section: LineDict) -> dict[str, Receiver]:
        raw_list = self.sequence(top, "receivers", "config")
        receivers: dict[str, Receiver] = {}
        for position, item in enumerate(raw_list):
            where = f"receivers[{position}]"
            raw = self.mapping(item, where, raw_list, position)
            self.known(raw, {"name", *_INTEGRATION_KEYS}, where)
            name = str(raw.get("name") or "")
            if not name:
                raise self.fail(f"{where}: missing name of receiver", raw)
            if name in receivers:
                raise self.fail(f"notification config name {name!r} is not unique", raw, "name")
            receiver = Receiver(name)
            for key, kind in _INTEGRATION_KEYS.items():
                for index, settings in enumerate(self.sequence(raw, key, where)):
                    integration_where = f"{where}.{key}[{index}]"
                    settings_map = self.mapping(settings, integration_where, raw, key)
                    receiver.integrations.append(
                        self.integration(kind, settings_map, global_section, integration_where)
                    )
            receivers[name] = receiver
        return receivers

    def integration(
        self, kind: str, raw: LineDict, global_section: LineDict, where: str
    ) -> Integration:
        settings = dict(raw)
        send_resolved = bool(settings.pop("send_resolved", SEND_RESOLVED_DEFAULTS[kind]))
        inherited = {
            "email": {
                "from": "smtp_from",
                "smarthost": "smtp_smarthost",
                "auth_username": "smtp_auth_username",
                "auth_password": "smtp_auth_password",
                "require_tls": "smtp_require_tls",
                "hello": "smtp_hello",
            },
            "slack": {"api_url": "slack_api_url", "api_url_file": "slack_api_url_file"},
            "telegram": {"api_url": "telegram_api_url"},
        }.get(kind, {})
        if kind == "slack" and (settings.get("api_url") or settings.get("api_url_file")):
            inherited = {}  # Alertmanager takes the global URL only when neither is set
        for local, global_key in inherited.items():
            if local not in settings and global_key in global_section:
                settings[local] = global_section[global_key]
        for required in _REQUIRED_SETTINGS[kind]:
            if not settings.get(required):
                raise self.fail(f"{where}: missing {required}", raw)
        if kind == "apprise" and not isinstance(settings["urls"], list):
            settings["urls"] = [settings["urls"]]
        if "headers" in settings and not isinstance(settings["headers"], dict):
            raise self.fail(f"{where}.headers: expected a mapping", raw, "headers")
        try:
            self.message_templates.check(kind, settings, where)
        except RoutingConfigError as error:
            raise self.fail(error.message, raw, _template_key(raw)) from None
        problem = slack_problem(settings, self.message_templates) if kind == "slack" else None
        if problem is not None:
            key, message = problem
            raise self.fail(f"{where}{message}", raw, key)
        return Integration(kind=kind, send_resolved=send_resolved, settings=settings)

    def inhibit_rules(self, top: LineDict) -> list[InhibitRule]:
        rules: list[InhibitRule] = []
        raw_list = self.sequence(top, "inhibit_rules", "config")
        for position, item in enumerate(raw_list):
            where = f"inhibit_rules[{position}]"
            raw = self.mapping(item, where, raw_list, position)
            allowed = {
                "source_matchers",
                "target_matchers",
                "source_match",
                "source_match_re",
                "target_match",
                "target_match_re",
                "equal",
            }
            self.known(raw, allowed, where)
            try:
                sides = {side: self.side_matchers(raw, side) for side in ("source", "target")}
            except (RoutingConfigError, AttributeError, TypeError) as error:
                message = getattr(error, "message", "matchers: expected a mapping or a list")
                raise self.fail(f"{where}: {message}", raw) from None
            rules.append(
                InhibitRule(
                    source_matchers=sides["source"],
                    target_matchers=sides["target"],
                    equal=tuple(str(label) for label in self.sequence(raw, "equal", where)),
                )
            )
        return rules

    @staticmethod
    def side_matchers(raw: LineDict, side: str) -> list[Matcher]:
        found = [Matcher(str(k), "=", str(v)) for k, v in (raw.get(f"{side}_match") or {}).items()]
        for name, value in (raw.get(f"{side}_match_re") or {}).items():
            found.append(parse_matcher(f"{name}=~{_quote(str(value))}"))
        for text in raw.get(f"{side}_matchers") or []:
            found.extend(parse_matchers(str(text)))
        return found

    def time_intervals(self, top: LineDict) -> dict[str, list[TimeInterval]]:
        intervals: dict[str, list[TimeInterval]] = {}
        for key in ("time_intervals", "mute_time_intervals"):
            raw_list = self.sequence(top, key, "config")
            for position, item in enumerate(raw_list):
                where = f"{key}[{position}]"
                raw = self.mapping(item, where, raw_list, position)
                self.known(raw, {"name", "time_intervals"}, where)
                name = str(raw.get("name") or "")
                if not name:
                    raise self.fail(f"{where}: missing name", raw)
                if name in intervals:
                    raise self.fail(f"time interval {name!r} is not unique", raw, "name")
                try:
                    intervals[name] = [
                        TimeInterval.from_config(self.mapping(entry, where))
                        for entry in self.sequence(raw, "time_intervals", where)
                    ]
                except (RoutingConfigError, AttributeError, TypeError) as error:
                    if not isinstance(error, RoutingConfigError):
                        raise self.fail(f"{where}: invalid time interval", raw) from None
                    raise self.fail(f"{where}: {error.message}", raw, "time_intervals") from None
        return intervals


def _template_key(raw: LineDict) -> str | None:
    """The first templated key present in an integration (its line is the error's)."""
    for key in ("headers", "title", "message", "html", "text", "pretext", "footer"):
        if key in raw:
            return key
    return None


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
