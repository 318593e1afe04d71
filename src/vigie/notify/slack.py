"""Slack notifications: the exact message Alertmanager 0.25 posts for a ``slack_configs`` entry.

A team moving from Alertmanager keeps its Slack messages: the same top-level ``channel``,
``username``, ``icon_emoji``, ``icon_url`` and ``link_names``, and one attachment with ``title``,
``title_link``, ``pretext``, ``text``, ``fallback``, ``callback_id``, ``fields``, ``actions``,
``image_url``, ``thumb_url``, ``footer``, ``color`` and ``mrkdwn_in``. Every text is a Go template
rendered with Alertmanager's data (:mod:`vigie.notify.template_data`) and the routing file's
``templates:``; a setting left out gets Alertmanager's default (:data:`DEFAULTS`), an empty value
is left out of the JSON as Go's ``omitempty`` does, and the title is cut at 1,024 characters with
``…``. One vigie rule differs: when none of ``pretext``, ``text`` and ``footer`` is set, ``text``
carries vigie's own body (summary, severity, value, runbook and UI links), as every other channel
does. ``api_url`` (or ``api_url_file``, read at each send) holds a secret: it never appears in
an error or a log line.

The message is rendered when it is sent, from the notification's webhook payload (the same data
Alertmanager's templates see), so a queued notification survives a restart unchanged.

Example::

    >>> from vigie.notify.message_templates import MessageTemplates
    >>> templates = MessageTemplates.load([])
    >>> data = templates.sample_data()
    >>> message, errors = slack_request(
    ...     {"channel": "#ops", "color": "{{ .CommonLabels.severity }}", "text": ""},
    ...     lambda text: templates.render(text, data))
    >>> message["channel"], message["attachments"][0]["title"], message["attachments"][0]["color"]
    ('#ops', '[FIRING:1] Sample (app warning)', 'warning')
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigie.exceptions import NotificationError
from vigie.notify.alert import parse_time
from vigie.notify.message_templates import STATIC_ERRORS, MessageTemplates
from vigie.notify.template_data import (
    ALERTMANAGER,
    KV,
    TemplateAlert,
    TemplateAlerts,
    TemplateData,
    quote_meta,
)
from vigie.rules.templating import Template, TemplateError

if TYPE_CHECKING:
    from vigie.notify.dispatcher import Notification

__all__ = [
    "DEFAULTS",
    "SETTINGS",
    "SlackNotifier",
    "payload_template_data",
    "slack_problem",
    "slack_request",
]

logger = logging.getLogger("vigie.notify")

#: Alertmanager 0.25's ``DefaultSlackConfig``: the text of each templated setting left out.
DEFAULTS: dict[str, str] = {
    "color": '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}',
    "username": '{{ template "slack.default.username" . }}',
    "title": '{{ template "slack.default.title" . }}',
    "title_link": '{{ template "slack.default.titlelink" . }}',
    "icon_emoji": '{{ template "slack.default.iconemoji" . }}',
    "icon_url": '{{ template "slack.default.iconurl" . }}',
    "pretext": '{{ template "slack.default.pretext" . }}',
    "text": '{{ template "slack.default.text" . }}',
    "fallback": '{{ template "slack.default.fallback" . }}',
    "callback_id": '{{ template "slack.default.callbackid" . }}',
    "footer": '{{ template "slack.default.footer" . }}',
}
#: Templated settings without a default.
UNDEFAULTED = ("channel", "image_url", "thumb_url")
#: Every key of an Alertmanager 0.25 ``slack_configs`` entry (``send_resolved`` is taken first).
SETTINGS = frozenset(
    {
        *DEFAULTS,
        *UNDEFAULTED,
        "http_config",
        "api_url",
        "api_url_file",
        "fields",
        "short_fields",
        "link_names",
        "mrkdwn_in",
        "actions",
    }
)
#: Where Slack reads markdown when ``mrkdwn_in`` is not set (Alertmanager's choice).
DEFAULT_MRKDWN_IN = ("fallback", "pretext", "text")
#: Slack's limit on an attachment title, in characters (Alertmanager cuts there).
TITLE_LIMIT = 1024
#: The body settings: when none is set, ``text`` carries vigie's body.
BODY_SETTINGS = ("pretext", "text", "footer")

# The templated keys of a field, an action and an action's confirmation, in JSON order.
_FIELD_TEXTS = ("title", "value")
_ACTION_TEXTS = ("type", "text", "url", "style", "name", "value")
_CONFIRM_TEXTS = ("text", "title", "ok_text", "dismiss_text")
# Attachment keys in Alertmanager's JSON order, and whether an empty one is still sent (Go
# fields without omitempty); fields and actions go after callback_id.
_HEAD = (("title", False), ("title_link", False), ("pretext", False), ("text", True),
         ("fallback", True), ("callback_id", True))  # fmt: skip
_TAIL = (("image_url", False), ("thumb_url", False), ("footer", True), ("color", False))


class _Renderer:
    """Renders templates, keeping the errors instead of raising (the page must still go out)."""

    def __init__(self, render: Callable[[str], str]) -> None:
        self.render = render
        self.errors: list[TemplateError] = []

    def text(self, template: object, fallback: str = "") -> str:
        """``template`` rendered (``""`` stays empty); ``fallback`` when it is None or fails."""
        if template is not None:
            try:
                return self.render(str(template))
            except TemplateError as error:
                self.errors.append(error)
        try:
            return self.render(fallback) if fallback else ""
        except TemplateError as error:  # a templates file broke a default on this data
            self.errors.append(error)
            return ""

    def setting(self, settings: Mapping[str, Any], key: str) -> str:
        """A top-level setting: its template, or Alertmanager's default (also if it fails)."""
        return self.text(settings.get(key, DEFAULTS.get(key)), DEFAULTS.get(key, ""))

    def item(self, item: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any] | None:
        """The non-empty rendered ``keys`` of a field or action; None if one template fails."""
        failed = len(self.errors)
        rendered = {key: self.text(item.get(key)) for key in keys}
        if len(self.errors) > failed:
            return None
        return {key: value for key, value in rendered.items() if value}

    def action(self, action: Mapping[str, Any]) -> dict[str, Any] | None:
        """A link button (``url``: Alertmanager drops name, value and confirm) or a message one."""
        if action.get("url"):
            return self.item(action, _ACTION_TEXTS[:4])
        failed = len(self.errors)
        entry: dict[str, Any] | None = self.item(action, _ACTION_TEXTS)
        confirm = action.get("confirm")
        if entry is not None and isinstance(confirm, Mapping):
            entry["confirm"] = self.item(confirm, _CONFIRM_TEXTS)
        return entry if len(self.errors) == failed else None


def slack_request(
    settings: Mapping[str, Any],
    render: Callable[[str], str],
    *,
    vigie_text: str | None = None,
) -> tuple[dict[str, Any], list[TemplateError]]:
    """The JSON Alertmanager posts for ``settings``, every template through ``render``.

    A setting whose template fails on this data gets its default instead and a field or action
    whose template fails is left out; the errors are returned. ``vigie_text`` is the ``text``
    sent when no body setting (:data:`BODY_SETTINGS`) is set.
    """
    renderer = _Renderer(render)
    rendered = {key: renderer.setting(settings, key) for key, _ in (*_HEAD, *_TAIL)}
    if len(rendered["title"]) > TITLE_LIMIT:
        logger.warning("Slack title cut at %d characters", TITLE_LIMIT)
        rendered["title"] = rendered["title"][: TITLE_LIMIT - 1] + "…"
    if vigie_text is not None and not any(key in settings for key in BODY_SETTINGS):
        rendered["text"] = vigie_text
    attachment: dict[str, Any] = {k: rendered[k] for k, always in _HEAD if always or rendered[k]}
    fields = []
    for field in settings.get("fields") or ():
        entry = renderer.item(field, _FIELD_TEXTS)
        if entry is not None:
            short = field.get("short")
            entry["short"] = bool(settings.get("short_fields")) if short is None else bool(short)
            fields.append(entry)
    if fields:
        attachment["fields"] = fields
    actions = [renderer.action(action) for action in settings.get("actions") or ()]
    if any(actions):
        attachment["actions"] = [action for action in actions if action]
    attachment.update({k: rendered[k] for k, always in _TAIL if always or rendered[k]})
    attachment["mrkdwn_in"] = list(settings.get("mrkdwn_in") or DEFAULT_MRKDWN_IN)
    request: dict[str, Any] = {}
    for key in ("channel", "username", "icon_emoji", "icon_url"):
        value = renderer.setting(settings, key)
        if value:
            request[key] = value
    if settings.get("link_names"):
        request["link_names"] = True
    request["attachments"] = [attachment]
    return request, renderer.errors


def slack_problem(
    settings: Mapping[str, Any], templates: MessageTemplates
) -> tuple[str | None, str] | None:
    """What Alertmanager would refuse in a ``slack_configs`` entry, or a template that cannot work.

    Returns ``(setting, message)`` for the first problem, or None: ``message`` follows the
    entry's path (``.fields[1]: missing value ...`` or ``: unknown field 'colour'``) and
    ``setting``, when known, locates it in the file. Templates are parsed and tried on a sample
    alert, like the title and body fields of the other integrations.
    """
    for key in settings:
        if key not in SETTINGS:
            return key, f": unknown field {key!r}"
    if settings.get("api_url") and settings.get("api_url_file"):
        return "api_url", ": at most one of api_url & api_url_file must be configured"
    if not settings.get("api_url") and not settings.get("api_url_file"):
        return None, ": missing api_url (or api_url_file, or global slack_api_url)"
    mrkdwn = settings.get("mrkdwn_in")
    if mrkdwn is not None and (
        not isinstance(mrkdwn, list) or not all(isinstance(item, str) for item in mrkdwn)
    ):
        return "mrkdwn_in", ".mrkdwn_in: expected a list of strings"
    for key in ("short_fields", "link_names"):
        if key in settings and not isinstance(settings[key], bool):
            return key, f".{key}: expected true or false"
    texts = [(key, key, settings.get(key, DEFAULTS.get(key))) for key in (*DEFAULTS, *UNDEFAULTED)]
    for key, check, keys in (
        ("fields", _field_problem, _FIELD_TEXTS),
        ("actions", _action_problem, _ACTION_TEXTS),
    ):
        items = settings.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            return key, f".{key}: expected a list"
        for index, item in enumerate(items):
            problem = check(item) if isinstance(item, Mapping) else "expected a mapping"
            if problem:
                return key, f".{key}[{index}]: {problem}"
            texts += [(key, f"{key}[{index}].{name}", item.get(name)) for name in keys]
            confirm = item.get("confirm") or {}
            texts += [
                (key, f"{key}[{index}].confirm.{name}", confirm.get(name))
                for name in _CONFIRM_TEXTS
            ]
    return _template_problem(texts, templates)


def _field_problem(field: Mapping[str, Any]) -> str | None:
    unknown = [name for name in field if name not in (*_FIELD_TEXTS, "short")]
    if unknown:
        return f"unknown field {unknown[0]!r}"
    if not field.get("title"):
        return "missing title in Slack field configuration"
    if not field.get("value"):
        return "missing value in Slack field configuration"
    if field.get("short") is not None and not isinstance(field["short"], bool):
        return "short: expected true or false"
    return None


def _action_problem(action: Mapping[str, Any]) -> str | None:
    unknown = [name for name in action if name not in (*_ACTION_TEXTS, "confirm")]
    if unknown:
        return f"unknown field {unknown[0]!r}"
    if not action.get("type"):
        return "missing type in Slack action configuration"
    if not action.get("text"):
        return "missing text in Slack action configuration"
    if not action.get("url") and not action.get("name"):
        return "missing name or url in Slack action configuration"
    confirm = action.get("confirm")
    if confirm is not None:
        if not isinstance(confirm, Mapping):
            return "confirm: expected a mapping"
        unknown = [name for name in confirm if name not in _CONFIRM_TEXTS]
        if unknown:
            return f"confirm: unknown field {unknown[0]!r}"
        if not confirm.get("text"):
            return "missing text in Slack confirmation configuration"
    return None


def _template_problem(
    texts: list[tuple[str, str, object]], templates: MessageTemplates
) -> tuple[str | None, str] | None:
    # A mistake any data would hit (unknown function, field or template) is refused at load;
    # one that depends on the alerts (`index .Alerts 1`) is left to the send-time fallback.
    sample = templates.sample_data()
    for key, name, text in texts:
        if text is None:
            continue
        try:
            template = Template(str(text), name, dialect=ALERTMANAGER, library=templates.library)
        except TemplateError as error:
            return key, f".{name}: {error}"
        try:
            template.execute(sample)
        except TemplateError as error:
            if any(part in error.message for part in STATIC_ERRORS):
                return key, f".{name}: {error}"
    return None


def payload_template_data(notification: Notification) -> TemplateData:
    """Alertmanager's template data, read back from the notification's webhook payload."""
    payload = notification.payload
    alerts = TemplateAlerts(
        TemplateAlert(
            Status=str(alert["status"]),
            Labels=KV(alert["labels"]),
            Annotations=KV(alert["annotations"]),
            StartsAt=parse_time(alert["startsAt"]),
            EndsAt=parse_time(alert["endsAt"]),
            GeneratorURL=str(alert["generatorURL"]),
            Fingerprint=str(alert["fingerprint"]),
        )
        for alert in payload.get("alerts", [])
    )
    return TemplateData(
        Receiver=quote_meta(notification.receiver),
        Status=str(payload.get("status", "firing")),
        Alerts=alerts,
        GroupLabels=KV(payload.get("groupLabels", {})),
        CommonLabels=KV(payload.get("commonLabels", {})),
        CommonAnnotations=KV(payload.get("commonAnnotations", {})),
        ExternalURL=str(payload.get("externalURL", "")),
    )


class SlackNotifier:
    """POSTs Alertmanager's Slack message to ``api_url`` (or the URL in ``api_url_file``)."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        templates: MessageTemplates | None = None,
        timeout: float = 10.0,
    ) -> None:
        import httpx

        self.settings = dict(settings)
        self.templates = templates if templates is not None else MessageTemplates.load([])
        headers = {"User-Agent": "vigie-notifier", "Content-Type": "application/json"}
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def message(self, notification: Notification) -> dict[str, Any]:
        """The JSON body for ``notification`` (a failed template is reported on top of the text)."""
        data = payload_template_data(notification)
        request, errors = slack_request(
            self.settings,
            lambda text: self.templates.render(text, data),
            vigie_text=notification.body,
        )
        if errors:
            logger.warning(
                "Slack template of receiver %s failed: %s", notification.receiver, errors[0]
            )
            attachment = request["attachments"][0]
            note = f"(notification template failed: {errors[0]})"
            attachment["text"] = f"{note}\n\n{attachment['text']}".rstrip()
        return request

    def send(self, notification: Notification) -> None:
        import httpx

        request = self.message(notification)
        where = f"slack receiver {notification.receiver}"
        if "channel" in request:
            where += f" (channel {request['channel']!r})"
        url = self._url(where)
        try:
            response = self._client.post(
                url, content=json.dumps(request, ensure_ascii=False).encode()
            )
        except httpx.HTTPError as error:
            # httpx may quote the URL in its message; the URL is the secret.
            reason = str(error).replace(url, "<api_url>") or type(error).__name__
            raise NotificationError(f"{where}: {reason}") from None
        if response.status_code // 100 != 2:
            detail = response.text[:200].strip().replace(url, "<api_url>")
            raise NotificationError(
                f"{where}: HTTP {response.status_code}" + (f": {detail}" if detail else "")
            )
        # Slack's Web API (chat.postMessage) answers 200 with {"ok": false, "error": ...}.
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if isinstance(answer, dict) and answer.get("ok") is False:
                raise NotificationError(
                    f"{where}: error response from Slack: {answer.get('error')}"
                )

    def _url(self, where: str) -> str:
        if self.settings.get("api_url"):
            return str(self.settings["api_url"])
        path = str(self.settings.get("api_url_file") or "")
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise NotificationError(f"{where}: cannot read api_url_file {path}: {reason}") from None

    def close(self) -> None:
        self._client.close()
