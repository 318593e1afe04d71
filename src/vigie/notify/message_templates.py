"""Notification templates: Alertmanager's ``templates:`` files and per-receiver template fields.

The routing file's top-level ``templates:`` lists file globs (relative to the routing file) of Go
templates with ``{{ define "name" }}...{{ end }}`` blocks; they are parsed after vigie's defaults
(``default.tmpl`` beside this module: ``__subject``, ``__text_alert_list``,
``slack.default.title``, ``email.default.html``, ...), so a file may redefine any of them. Each
receiver integration then renders its own fields with Alertmanager's data
(:mod:`vigie.notify.template_data`):

====================  ===========================================  ==============================
integration           title                                        body
====================  ===========================================  ==============================
``email_configs``     ``headers: {Subject: ...}``                  ``html`` (HTML) or ``text``
``slack_configs``     ``title``                                    ``pretext``, ``text``, ``footer``
``discord_configs``   ``title``                                    ``message``
``msteams_configs``   ``title``                                    ``text``
``telegram_configs``  (none: the message says it all)              ``message``
``apprise_configs``   ``title``                                    ``message``
``webhook_configs``   (none: Alertmanager's JSON payload)
====================  ===========================================  ==============================

A title not set is Alertmanager's default (``{{ template "slack.default.title" . }}``...); a body
not set is vigie's text (summary, severity, value, runbook and UI links). Every template is parsed
and tried on a sample alert when the configuration is loaded, so a typo (an unknown function,
field or template) is an error naming the file and line, not a failed page at 3 a.m.; a template
that fails only on some data (``index .Alerts 1``) sends the default text with the error on top.

Example::

    >>> templates = MessageTemplates.load([])
    >>> sample = templates.sample_data()
    >>> templates.render('{{ template "__subject" . }}', sample)
    '[FIRING:1] Sample (app warning)'
"""

from __future__ import annotations

import glob
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from vigie.exceptions import RoutingConfigError
from vigie.notify.alert import Alert
from vigie.notify.template_data import ALERTMANAGER, TemplateData, template_data
from vigie.rules.templating import Definition, Template, TemplateError

__all__ = [
    "DEFAULT_TEMPLATES",
    "FIELDS",
    "STATIC_ERRORS",
    "MessageTemplates",
    "RenderedMessage",
    "template_fields",
]

#: vigie's default templates (Alertmanager's names).
DEFAULT_TEMPLATES = Path(__file__).with_name("default.tmpl")


@dataclass(frozen=True)
class FieldSpec:
    """A templated setting of one integration kind and the part of the message it makes."""

    path: tuple[str, ...]  # ("headers", "Subject") for a nested setting
    role: str  # title | body | html
    default: str = ""  # template text used when the setting is absent ("" : vigie's own)


FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "email": (
        FieldSpec(("headers", "Subject"), "title", '{{ template "email.default.subject" . }}'),
        FieldSpec(("html",), "html"),
        FieldSpec(("text",), "body"),
    ),
    "slack": (
        FieldSpec(("title",), "title", '{{ template "slack.default.title" . }}'),
        FieldSpec(("pretext",), "body"),
        FieldSpec(("text",), "body"),
        FieldSpec(("footer",), "body"),
    ),
    "discord": (
        FieldSpec(("title",), "title", '{{ template "discord.default.title" . }}'),
        FieldSpec(("message",), "body"),
    ),
    "msteams": (
        FieldSpec(("title",), "title", '{{ template "msteams.default.title" . }}'),
        FieldSpec(("text",), "body"),
    ),
    "telegram": (FieldSpec(("message",), "body"),),
    "apprise": (
        FieldSpec(("title",), "title", '{{ template "__subject" . }}'),
        FieldSpec(("message",), "body"),
    ),
    "webhook": (),
}


@dataclass(frozen=True)
class RenderedMessage:
    """The human part of a notification: title, body, and whether the body is HTML."""

    title: str | None  # None: the integration has no title field set nor defaulted
    body: str | None  # None: no body field set (the caller uses vigie's default body)
    body_format: str = "text"


def template_fields(kind: str, settings: Mapping[str, Any]) -> list[tuple[FieldSpec, str]]:
    """The templated fields of an integration with their text (set, or defaulted)."""
    found: list[tuple[FieldSpec, str]] = []
    for spec in FIELDS.get(kind, ()):
        value: Any = settings
        for key in spec.path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is None and spec.default:
            value = spec.default
        if value is not None:
            found.append((spec, str(value)))
    return found


@dataclass
class MessageTemplates:
    """The parsed template files (defaults first) and a cache of parsed field templates."""

    library: dict[str, Definition]
    files: list[str] = field(default_factory=list)
    _parsed: dict[str, Template] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, patterns: Sequence[str], *, base: Path | None = None) -> MessageTemplates:
        """Defaults, then each glob's files in name order; errors name the file and line."""
        library = dict(_default_library())
        files: list[str] = []
        for pattern in patterns:
            absolute = Path(pattern) if base is None else base / pattern
            try:
                matched = sorted(glob.glob(str(absolute)))
            except (OSError, ValueError) as error:
                raise RoutingConfigError(f"templates: bad glob {pattern!r}: {error}") from None
            for path in matched:
                try:
                    text = Path(path).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as error:
                    raise RoutingConfigError(
                        f"cannot read template: {error}", source=path
                    ) from None
                try:
                    parsed = Template(text, Path(path).name, dialect=ALERTMANAGER, library=library)
                except TemplateError as error:
                    raise RoutingConfigError(str(error), source=path, line=error.line) from None
                library = parsed.library
                files.append(path)
        return cls(library, files)

    def template(self, text: str, name: str = "") -> Template:
        """``text`` parsed against the library (cached)."""
        parsed = self._parsed.get(text)
        if parsed is None:
            parsed = Template(text, name, dialect=ALERTMANAGER, library=self.library)
            self._parsed[text] = parsed
        return parsed

    def render(self, text: str, data: TemplateData, *, as_html: bool = False) -> str:
        """Execute ``text`` (HTML-escaping printed values when ``as_html``)."""
        if not text:
            return ""
        escape = _html_escape if as_html else None
        return self.template(text).execute(data, escape=escape)

    def check(self, kind: str, settings: Mapping[str, Any], where: str) -> None:
        """Parse and try every template field of an integration; RoutingConfigError if bad."""
        sample = self.sample_data()
        for spec, text in template_fields(kind, settings):
            field_name = ".".join(spec.path)
            name = f"{where}.{field_name}"
            try:
                template = Template(text, field_name, dialect=ALERTMANAGER, library=self.library)
            except TemplateError as error:
                raise RoutingConfigError(f"{name}: {error}") from None
            try:
                template.execute(sample, escape=_html_escape if spec.role == "html" else None)
            except TemplateError as error:
                # Only mistakes any data would hit: `index .Alerts 1` may be fine in real groups.
                if any(static in error.message for static in STATIC_ERRORS):
                    raise RoutingConfigError(f"{name}: {error}") from None

    def message(
        self, kind: str, settings: Mapping[str, Any], data: TemplateData
    ) -> RenderedMessage:
        """Render an integration's title and body fields (TemplateError when one fails)."""
        title: str | None = None
        bodies: list[str] = []
        html_body: str | None = None
        for spec, text in template_fields(kind, settings):
            if spec.role == "title":
                title = self.render(text, data)
            elif spec.role == "html":
                html_body = self.render(text, data, as_html=True)
            else:
                rendered = self.render(text, data)
                if rendered:
                    bodies.append(rendered)
        if html_body:
            return RenderedMessage(title, html_body, "html")
        return RenderedMessage(title, "\n".join(bodies) if bodies else None)

    @staticmethod
    def sample_data() -> TemplateData:
        """One firing alert with common labels: what templates are tried on at load."""
        start = datetime(2026, 1, 1, tzinfo=UTC)
        alert = Alert(
            {"alertname": "Sample", "job": "app", "severity": "warning"},
            {"summary": "a sample alert", "runbook_url": "http://vigie.invalid/runbooks/Sample"},
            starts_at=start,
            generator_url="http://vigie.invalid/graph",
        )
        return template_data(
            "sample", {"alertname": "Sample"}, [alert], now=start, external_url="http://vigie"
        )


#: Execution errors that do not depend on the alerts (rejected when the config is loaded).
STATIC_ERRORS = (
    "not defined",
    "can't evaluate field",
    "wrong number of args",
    "wrong type for value",
    "can't give argument",
    "incompatible types",
    "unknown time zone",
    "is not a command",
    "can't handle",
    "expected string",
)


# html/template's escaping of text between tags (its htmlReplacementTable).
_HTML_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&#34;",
        "'": "&#39;",
        "+": "&#43;",
        "\0": "\ufffd",
    }
)


def _html_escape(text: str) -> str:
    return text.translate(_HTML_ESCAPES)


@lru_cache(maxsize=1)
def _default_library() -> dict[str, Definition]:
    text = DEFAULT_TEMPLATES.read_text(encoding="utf-8")
    return Template(text, DEFAULT_TEMPLATES.name, dialect=ALERTMANAGER).library
