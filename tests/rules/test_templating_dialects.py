"""The template engine beyond Prometheus: dialects, data methods, shared definitions, escaping."""

from __future__ import annotations

from typing import Any

import pytest

from vigie.rules.template_functions import GoMethod, GoValue, SafeHtml
from vigie.rules.templating import Dialect, Template, TemplateError

SHOUT = Dialect(
    functions={"shout": lambda text: text.upper() + "!", "raw": SafeHtml},
    signatures={"shout": (("string",), None), "raw": (("string",), None)},
)


class Box(GoValue):
    """A data object with a field, a method without and a method with an argument."""

    go_type = "main.Box"

    def go_field(self, name: str) -> Any:
        fields: dict[str, Any] = {
            "Name": "box",
            "Items": GoMethod("Items", lambda: ["a", "b"]),
            "Pick": GoMethod("Pick", lambda index: ["a", "b"][index], 1),
        }
        return fields[name]


def test_dialect_functions_and_variables() -> None:
    """A dialect's functions are callable; Prometheus's are not, nor its $labels."""
    assert Template('{{ shout "hi" }}', dialect=SHOUT).execute(None) == "HI!"
    with pytest.raises(TemplateError, match='function "humanize" not defined'):
        Template("{{ humanize 1 }}", dialect=SHOUT)
    with pytest.raises(TemplateError, match='undefined variable "\\$labels"'):
        Template("{{ $labels }}", dialect=SHOUT)


def test_methods_of_data_objects() -> None:
    """Methods are called at the end of a chain with the command's arguments, else with none."""
    text = "{{ .Name }} {{ .Items }} {{ len .Items }} {{ .Pick 1 }} {{ 0 | .Pick }}"
    assert Template(text, dialect=SHOUT).execute(Box()) == "box [a b] 2 b a"
    with pytest.raises(TemplateError, match="wrong number of args for Pick: want 1 got 0"):
        Template("{{ .Pick }}", dialect=SHOUT).execute(Box())
    with pytest.raises(TemplateError, match=r"can.t evaluate field Size in type main\.Box"):
        Template("{{ .Size }}", dialect=SHOUT).execute(Box())


def test_definitions_shared_across_files_locate_their_errors() -> None:
    """A definition from another file runs with its own errors pointing into that file."""
    library = Template(
        '{{ define "x" }}\n  {{ .Size }}{{ end }}', "lib.tmpl", dialect=SHOUT
    ).library
    main = Template('ab {{ template "x" . }}', "main", dialect=SHOUT, library=library)
    with pytest.raises(TemplateError) as caught:
        main.execute(Box())
    assert str(caught.value) == (
        'template: lib.tmpl:2:5: executing "x" at <.Size>: '
        "can't evaluate field Size in type main.Box"
    )
    override = Template('{{ define "x" }}mine{{ end }}{{ template "x" }}', dialect=SHOUT,
                        library=library)  # fmt: skip
    assert override.execute(None) == "mine"


def test_escape_spares_safe_values() -> None:
    """An escape function filters printed values, except SafeHtml ones; text is left alone."""
    text = '<p>{{ "<b>" }}{{ raw "<i>" }}</p>'
    assert Template(text, dialect=SHOUT).execute(None, escape=lambda s: s.replace("<", "&lt;")) == (
        "<p>&lt;b><i></p>"
    )
