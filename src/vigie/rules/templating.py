"""Go ``text/template`` for alert labels and annotations, as Prometheus expands them.

Rule files are shared with Prometheus, so their templates must render the same text here: the
same actions (``if``/``else if``/``range``/``with``/variables/pipelines/``{{- -}}`` trimming), the
same built-ins (``and or not eq ne lt le gt ge len index print printf``…) and Prometheus's functions
(``humanize``, ``query``, ``first``, ``value``, ``label``…, see :mod:`.template_functions`). A
template is parsed into a small tree (:mod:`.template_syntax`: unknown functions and undefined
variables are parse errors, as in Go) and evaluated here against the alert's data.

The same engine runs other dialects of Go templates (:class:`Dialect`): Alertmanager's
notification templates (:mod:`vigie.notify.template_data`) bring their own functions, call
methods on their data (``.Alerts.Firing``, ``.CommonLabels.Remove .GroupLabels.Names``, through
:class:`~vigie.rules.template_functions.GoValue`) and share ``define``d templates across files
(``library``), with errors located in the file that defined the failing template.

Example::

    >>> template = Template("{{ $labels.instance }} is at {{ $value | humanizePercentage }}")
    >>> template.render(AlertData(labels={"instance": "db1"}, value=0.912))
    'db1 is at 91.2%'
    >>> Template("{{ if gt $value 0.5 }}high{{ else }}low{{ end }}").render(AlertData(value=0.2))
    'low'
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from vigie.rules.template_functions import (
    PURE_FUNCTIONS,
    GoMethod,
    GoValue,
    SafeHtml,
    TemplateFunctionError,
    TemplateSample,
    go_quote,
    go_sprintf,
    go_string,
    go_time_field,
)
from vigie.rules.template_syntax import (
    BUILTIN_NAMES,
    RULE_VARIABLES,
    Action,
    Branch,
    Call,
    Command,
    Jump,
    Node,
    Operand,
    Parser,
    Pipeline,
    TemplateError,
    Text,
    pipeline_text,
)

__all__ = [
    "PROMETHEUS",
    "AlertData",
    "Definition",
    "Dialect",
    "Template",
    "TemplateError",
    "TemplateQuery",
    "expand_alert_template",
]

#: Runs a PromQL expression for ``query "..."``: returns the result's samples.
TemplateQuery = Callable[[str], Sequence[TemplateSample]]

# Go checks a function's arguments against its signature before calling it: parameter types
# (None: no variadic tail) as Prometheus declares them, so errors read the same.
_ANY, _STRING = "interface {}", "string"
_RESULT, _SAMPLE = "template.queryResult", "*template.sample"
_SIGNATURES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "first": ((_RESULT,), None), "label": ((_STRING, _SAMPLE), None), "value": ((_SAMPLE,), None),
    "strvalue": ((_SAMPLE,), None), "sortByLabel": ((_STRING, _RESULT), None),
    "args": ((), _ANY), "reReplaceAll": ((_STRING,) * 3, None), "safeHtml": ((_STRING,), None),
    "match": ((_STRING, _STRING), None), "title": ((_STRING,), None),
    "toUpper": ((_STRING,), None), "toLower": ((_STRING,), None),
    "humanize": ((_ANY,), None), "humanize1024": ((_ANY,), None),
    "humanizeDuration": ((_ANY,), None), "humanizePercentage": ((_ANY,), None),
    "humanizeTimestamp": ((_ANY,), None), "toTime": ((_ANY,), None),
    "parseDuration": ((_STRING,), None), "stripPort": ((_STRING,), None),
    "stripDomain": ((_STRING,), None), "query": ((_STRING,), None),
    "graphLink": ((_STRING,), None), "tableLink": ((_STRING,), None),
    "externalURL": ((), None), "pathPrefix": ((), None),
    "and": ((_ANY,), _ANY), "or": ((_ANY,), _ANY), "not": ((_ANY,), None),
    "len": ((_ANY,), None), "index": ((_ANY,), _ANY), "slice": ((_ANY,), _ANY),
    "print": ((), _ANY), "println": ((), _ANY), "printf": ((_STRING,), _ANY),
    "html": ((), _ANY), "js": ((), _ANY), "urlquery": ((), _ANY), "call": ((_ANY,), _ANY),
    "eq": ((_ANY,), _ANY), "ne": ((_ANY, _ANY), None), "lt": ((_ANY, _ANY), None),
    "le": ((_ANY, _ANY), None), "gt": ((_ANY, _ANY), None), "ge": ((_ANY, _ANY), None),
}  # fmt: skip


Signature = tuple[tuple[str, ...], str | None]

_CONTEXT_FUNCTIONS = frozenset({"query", "externalURL", "pathPrefix", "graphLink", "tableLink"})


@dataclass(frozen=True)
class Dialect:
    """The functions and predefined variables of one family of templates.

    Go's built-ins (``and``, ``printf``, ``len``…) are always there; a dialect adds its own
    functions (Prometheus's ``humanize``…, or Alertmanager's ``join``, ``toUpper``…) with their
    signatures, checked as Go checks them, and names the variables defined before the text.
    """

    functions: Mapping[str, Callable[..., Any]]
    signatures: Mapping[str, Signature]
    variables: frozenset[str] = frozenset({"$"})
    context_functions: frozenset[str] = frozenset()

    @property
    def names(self) -> frozenset[str]:
        """Every function a template of this dialect may call."""
        return BUILTIN_NAMES | self.context_functions | frozenset(self.functions)


@dataclass
class AlertData:
    """An alert template's data: ``.Labels``, ``.ExternalLabels``, ``.ExternalURL``, ``.Value``."""

    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 0.0
    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""

    def fields(self) -> dict[str, Any]:
        return {
            "Labels": dict(self.labels),
            "ExternalLabels": dict(self.external_labels),
            "ExternalURL": self.external_url,
            "Value": self.value,
        }


class _Struct(dict[str, Any]):
    """A Go struct: unknown fields are errors, unlike map keys."""


#: Prometheus's alert templates: its functions, ``query`` and ``$labels``/``$value``….
PROMETHEUS = Dialect(PURE_FUNCTIONS, _SIGNATURES, RULE_VARIABLES, _CONTEXT_FUNCTIONS)


@dataclass(frozen=True)
class Definition:
    """A ``{{ define }}``d template, with the template whose text it came from (for errors)."""

    name: str
    body: list[Node]
    owner: Template


# ---------------------------------------------------------------------------- evaluation


class _ExecError(Exception):
    """A failure at ``node`` (its text is shown); ``offset`` overrides where it points."""

    def __init__(self, message: str, node: Node, offset: int | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.offset = node.offset if offset is None else offset
        #: The defined template that failed (None: the top-level text).
        self.definition: Definition | None = None


class _Loop(Exception):  # noqa: N818 - control flow for break/continue, not an error
    def __init__(self, kind: str) -> None:
        self.kind = kind


def truth(value: Any) -> bool:
    """Go template truthiness: false, 0, nil and empty strings, slices and maps are false."""
    if value is None:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | dict):
        return bool(value)
    return True


class Template:
    """A parsed template; :meth:`render` executes it (parse errors raise :class:`TemplateError`).

    ``library`` holds definitions made elsewhere (other template files) that ``{{ template }}``
    may call; this text's own ``define``s override them, as a later parse does in Go.
    """

    def __init__(
        self,
        text: str,
        name: str = "template",
        *,
        dialect: Dialect = PROMETHEUS,
        library: Mapping[str, Definition] | None = None,
    ) -> None:
        self.text = text
        self.name = name
        self.dialect = dialect
        parser = Parser(text, name, functions=dialect.names, variables=dialect.variables)
        try:
            self.nodes = parser.parse()
        except TemplateError as error:
            raise TemplateError(error.message, name=name, line=error.line) from None
        self._parser = parser
        self.definitions = parser.definitions
        self.library: dict[str, Definition] = dict(library or {})
        for defined, body in parser.definitions.items():
            self.library[defined] = Definition(defined, body, self)

    def render(
        self,
        data: AlertData,
        *,
        query: TemplateQuery | None = None,
        external_url: str | None = None,
    ) -> str:
        """Execute against an alert's data; ``query`` serves the ``query`` function."""
        root = _Struct(data.fields())
        variables = {
            "$": root,
            "$labels": root["Labels"],
            "$externalLabels": root["ExternalLabels"],
            "$externalURL": root["ExternalURL"],
            "$value": root["Value"],
        }
        run = _Execution(self, query, external_url if external_url is not None else "")
        return self._run(run, root, variables)

    def execute(self, dot: Any, *, escape: Callable[[str], str] | None = None) -> str:
        """Execute with ``dot`` as data (``$`` too); ``escape`` filters every printed value.

        ``escape`` gives html/template's effect for text between tags: values are escaped
        unless they are :class:`~vigie.rules.template_functions.SafeHtml` (``safeHtml``).
        """
        run = _Execution(self, None, "", escape)
        return self._run(run, dot, {"$": dot})

    def _run(self, run: _Execution, dot: Any, variables: dict[str, Any]) -> str:
        out: list[str] = []
        try:
            run.walk(self.nodes, dot, [variables], out)
        except _ExecError as error:
            owner = error.definition.owner if error.definition else self
            executing = error.definition.name if error.definition else self.name
            line, column = owner._parser.locate(error.offset)
            raise TemplateError(
                f'executing "{executing}" at <{_describe(error.node)}>: {error}',
                name=owner.name,
                line=line,
                column=column,
            ) from None
        return "".join(out)


def _describe(node: Node) -> str:
    """How Go's errors show a node: ``<humanize $value>``, ``<{{template "x"}}>``."""
    if isinstance(node, Command):
        return " ".join(operand.source or "..." for operand in node.operands)
    if isinstance(node, Operand):
        return node.source
    if isinstance(node, Call):
        argument = f" {pipeline_text(node.pipeline)}" if node.pipeline is not None else ""
        return f"{{{{template {go_quote(node.name)}{argument}}}}}"
    if isinstance(node, Pipeline):
        return pipeline_text(node)
    return "..."


#: Nested {{ template }} calls allowed (Go allows 100000; Python's stack is the limit here).
_MAX_DEPTH = 200


class _Execution:
    def __init__(
        self,
        template: Template,
        query: TemplateQuery | None,
        url: str,
        escape: Callable[[str], str] | None = None,
    ) -> None:
        self.template = template
        self.dialect = template.dialect
        self.query = query
        self.url = url
        self.escape = escape
        self.depth = 0

    def walk(
        self, nodes: list[Node], dot: Any, variables: list[dict[str, Any]], out: list[str]
    ) -> None:
        for node in nodes:
            if isinstance(node, Text):
                out.append(node.text)
            elif isinstance(node, Action):
                value = self.pipeline(node.pipeline, dot, variables)
                if not node.pipeline.declarations:
                    text = "<no value>" if value is None else go_string(value)
                    if self.escape is not None and not isinstance(value, SafeHtml):
                        text = self.escape(text)
                    out.append(text)
            elif isinstance(node, Branch):
                self.branch(node, dot, variables, out)
            elif isinstance(node, Jump):
                raise _Loop(node.kind)
            elif isinstance(node, Call):
                self.call_template(node, dot, variables, out)

    def call_template(
        self, node: Call, dot: Any, variables: list[dict[str, Any]], out: list[str]
    ) -> None:
        """``{{ template "name" pipeline }}``: the definition runs with only ``$`` defined."""
        definition = self.template.library.get(node.name)
        if definition is None:
            raise _ExecError(f"template {go_quote(node.name)} not defined", node)
        if self.depth >= _MAX_DEPTH:
            raise _ExecError("exceeded maximum template depth (100000)", node)
        value = None if node.pipeline is None else self.pipeline(node.pipeline, dot, variables)
        self.depth += 1
        try:
            self.walk(definition.body, value, [{"$": value}], out)
        except _ExecError as error:
            # The innermost definition is where Go says the error happened.
            if error.definition is None:
                error.definition = definition
            raise
        finally:
            self.depth -= 1

    def branch(
        self, node: Branch, dot: Any, variables: list[dict[str, Any]], out: list[str]
    ) -> None:
        variables.append({})
        try:
            if node.kind == "range":
                self.range(node, dot, variables, out)
                return
            value = self.pipeline(node.pipeline, dot, variables, declare=node.kind != "range")
            if truth(value):
                self.walk(node.body, value if node.kind == "with" else dot, variables, out)
            else:
                self.walk(node.otherwise, dot, variables, out)
        finally:
            variables.pop()

    def range(
        self, node: Branch, dot: Any, variables: list[dict[str, Any]], out: list[str]
    ) -> None:
        value = self.pipeline(node.pipeline, dot, variables, declare=False)
        if isinstance(value, Mapping):
            items = [(key, value[key]) for key in sorted(value)]
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value is None:
            items = []
        else:
            raise _ExecError(f"range can't iterate over {go_string(value)}", node.pipeline)
        if not items:
            self.walk(node.otherwise, dot, variables, out)
            return
        names = node.pipeline.declarations
        for key, item in items:
            scope = variables[-1]
            if len(names) == 1:
                scope[names[0]] = item
            elif len(names) == 2:
                scope[names[0]], scope[names[1]] = key, item
            try:
                self.walk(node.body, item, variables, out)
            except _Loop as jump:
                if jump.kind == "break":
                    break

    def pipeline(
        self,
        pipeline: Pipeline,
        dot: Any,
        variables: list[dict[str, Any]],
        *,
        declare: bool = True,
    ) -> Any:
        value: Any = _NO_ARGUMENT
        for command in pipeline.commands:
            value = self.command(command, dot, variables, value)
        if declare and pipeline.declarations:
            name = pipeline.declarations[0]
            if pipeline.assign:
                for scope in reversed(variables):
                    if name in scope:
                        scope[name] = value
                        break
                else:
                    raise _ExecError(f"undefined variable: {name}", pipeline.commands[-1])
            else:
                variables[-1][name] = value
        return value

    def command(
        self, command: Command, dot: Any, variables: list[dict[str, Any]], piped: Any
    ) -> Any:
        head = command.operands[0]
        if head.kind == "function":
            return self.function(head, command.operands[1:], command, dot, variables, piped)
        if head.kind == "literal" and head.value is None:
            raise _ExecError("nil is not a command", head)
        value = self.operand(head, dot, variables, method=True)
        if isinstance(value, GoMethod):
            # A method ending a field chain takes the command's arguments (and the piped value).
            args = [self.operand(arg, dot, variables) for arg in command.operands[1:]]
            if piped is not _NO_ARGUMENT:
                args.append(piped)
            return self.invoke(value, args, head, command)
        if len(command.operands) > 1 or piped is not _NO_ARGUMENT:
            raise _ExecError(f"can't give argument to non-function {head.source}", command)
        return value

    def invoke(self, method: GoMethod, args: list[Any], head: Node, node: Node) -> Any:
        """Call a data object's method, with Go's arity check and error wording."""
        if len(args) != method.arity:
            raise _ExecError(
                f"wrong number of args for {method.name}: want {method.arity} got {len(args)}",
                head,
            )
        try:
            return method(*args)
        except (TemplateFunctionError, ValueError, TypeError) as error:
            raise _ExecError(f"error calling {method.name}: {error}", node) from None

    def function(
        self,
        head: Operand,
        args: list[Operand],
        node: Node,
        dot: Any,
        variables: list[dict[str, Any]],
        piped: Any,
    ) -> Any:
        """Call ``head`` as Go does: arity, then argument types, then the call itself."""
        name = head.value
        params, variadic = self.dialect.signatures.get(name) or _SIGNATURES[name]
        count = len(args) + (piped is not _NO_ARGUMENT)
        if count < len(params) or (variadic is None and count != len(params)):
            want = f"at least {len(params)}" if variadic is not None else str(len(params))
            raise _ExecError(f"wrong number of args for {name}: want {want} got {count}", head)
        if name in ("and", "or"):
            return self.logic(name, args, dot, variables, piped)
        values: list[Any] = []
        for index, arg in enumerate(args):
            value = self.operand(arg, dot, variables)
            _check_type(value, params[index] if index < len(params) else variadic, arg)
            values.append(value)
        if piped is not _NO_ARGUMENT:
            expected = params[len(args)] if len(args) < len(params) else variadic
            _check_type(piped, expected, args[-1] if args else head, piped=True)
            values.append(piped)
        try:
            return self.call(name, values)
        except (TemplateFunctionError, ValueError, TypeError, re.error) as error:
            raise _ExecError(f"error calling {name}: {error}", node) from None

    def logic(
        self, name: str, args: list[Operand], dot: Any, variables: list[dict[str, Any]], piped: Any
    ) -> Any:
        """``and`` / ``or``: evaluate lazily, return the deciding argument (Go 1.18+)."""
        thunks: list[Callable[[], Any]] = [self._thunk(arg, dot, variables) for arg in args]
        if piped is not _NO_ARGUMENT:
            thunks.append(lambda: piped)
        value: Any = None
        for thunk in thunks:
            value = thunk()
            if truth(value) == (name == "or"):
                return value
        return value

    def _thunk(
        self, operand: Operand, dot: Any, variables: list[dict[str, Any]]
    ) -> Callable[[], Any]:
        return lambda: self.operand(operand, dot, variables)

    def operand(
        self,
        operand: Operand,
        dot: Any,
        variables: list[dict[str, Any]],
        *,
        method: bool = False,
    ) -> Any:
        """An operand's value; a method at the end of its chain is returned, not called, when
        ``method`` is set (the command calls it with its arguments)."""
        if operand.kind == "literal":
            value = operand.value
        elif operand.kind in ("dot", "field"):
            value = dot
        elif operand.kind == "variable":
            value = next(
                scope[operand.value] for scope in reversed(variables) if operand.value in scope
            )
        elif operand.kind == "function":
            value = self.function(operand, [], operand, dot, variables, _NO_ARGUMENT)
        else:
            value = self.pipeline(operand.value, dot, variables, declare=False)
        if operand.chain:
            # Go points at the field chain itself: the ".x" of "$value.x".
            dot_at = operand.source.find(".", 1 if operand.kind != "field" else 0)
            start = operand.offset + max(dot_at, 0)
            last = len(operand.chain) - 1
            try:
                for position, name in enumerate(operand.chain):
                    value = _field(value, name, operand)
                    if isinstance(value, GoMethod) and (position < last or not method):
                        value = self.invoke(value, [], operand, operand)
            except _ExecError as error:
                raise _ExecError(str(error), operand, start) from None
        return value

    def call(self, name: str, args: list[Any]) -> Any:
        if name in self.dialect.functions:
            return self.dialect.functions[name](*args)
        return _call_builtin(self, name, args)


_NO_ARGUMENT = object()


def _type_name(value: Any) -> str:
    """The Go type a template value stands for, as Go's errors name it."""
    if isinstance(value, GoValue):
        return value.go_type
    if isinstance(value, TemplateSample):
        return _SAMPLE
    if isinstance(value, list | tuple):
        return _RESULT
    if isinstance(value, _Struct):
        return _STRUCT_NAME
    if isinstance(value, Mapping):
        return "map[string]string"
    return {bool: "bool", int: "int", float: "float64", str: "string"}.get(
        type(value), "interface {}"
    )


def _check_type(value: Any, expected: str | None, node: Node, *, piped: bool = False) -> None:
    """Refuse an argument of the wrong type, with Go's wording for constants and for values."""
    if expected in (None, _ANY):
        return
    matches = {
        _STRING: isinstance(value, str),
        _RESULT: isinstance(value, list | tuple),
        _SAMPLE: isinstance(value, TemplateSample),
    }[expected]
    if matches:
        return
    if isinstance(node, Operand) and node.kind == "literal" and not piped:
        if expected == _STRING:
            raise _ExecError(f"expected string; found {node.source}", node)
        raise _ExecError(f"can't handle {node.source} for arg of type {expected}", node)
    if value is None:
        raise _ExecError(f"invalid value; expected {expected}", node)
    raise _ExecError(f"wrong type for value; expected {expected}; got {_type_name(value)}", node)


_STRUCT_NAME = (
    "struct { Labels map[string]string; ExternalLabels map[string]string; "
    "ExternalURL string; Value float64 }"
)


def _field(value: Any, name: str, node: Node) -> Any:
    if isinstance(value, GoValue):
        try:
            return value.go_field(name)
        except KeyError:
            if not isinstance(value, Mapping):
                raise _ExecError(
                    f"can't evaluate field {name} in type {value.go_type}", node
                ) from None
        # A map type with methods (Alertmanager's KV): other names are keys, absent ones "".
        return value.get(name, "")
    if isinstance(value, datetime):
        try:
            return go_time_field(value, name)
        except KeyError:
            raise _ExecError(f"can't evaluate field {name} in type time.Time", node) from None
    if isinstance(value, _Struct):
        if name not in value:
            raise _ExecError(f"can't evaluate field {name} in type {_STRUCT_NAME}", node)
        return value[name]
    if isinstance(value, Mapping):
        # Prometheus executes with missingkey=zero: an absent label is "".
        return value.get(name, "")
    if isinstance(value, TemplateSample) and name in ("Labels", "Value"):
        return getattr(value, name)
    if value is None:
        raise _ExecError(f"nil pointer evaluating interface {{}}.{name}", node)
    raise _ExecError(f"can't evaluate field {name} in type {_type_name(value)}", node)


def _compare(name: str, left: Any, right: Any) -> bool:
    # Go compares only values of the same basic kind: `gt $value 10` (float64 vs int) is an error.
    if type(left) is not type(right) or not isinstance(left, bool | int | float | str):
        raise TemplateFunctionError("incompatible types for comparison")
    if name == "eq":
        return bool(left == right)
    if name == "ne":
        return bool(left != right)
    if isinstance(left, bool):
        raise TemplateFunctionError("invalid type for comparison")
    operations: dict[str, Callable[[Any, Any], bool]] = {
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
    }
    return operations[name](left, right)


def _go_print(args: Sequence[Any]) -> str:
    # fmt.Sprint: a space between operands when neither side is a string.
    out = ""
    for index, argument in enumerate(args):
        if index and not isinstance(argument, str) and not isinstance(args[index - 1], str):
            out += " "
        out += go_string(argument)
    return out


# Go's template.HTMLEscapeString and JSEscapeString.
_HTML_ESCAPES = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}
_JS_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E"}
_JS_ESCAPES |= {"&": "\\u0026", "=": "\\u003D"}


def _js_escape(char: str) -> str:
    if char in _JS_ESCAPES:
        return _JS_ESCAPES[char]
    if char < " ":
        return f"\\u{ord(char):04X}"
    if ord(char) >= 0x80 and not char.isprintable():
        return f"\\u{ord(char):04X}"
    return char


def _call_builtin(run: _Execution, name: str, args: list[Any]) -> Any:
    if name == "not":
        if len(args) != 1:
            raise TemplateFunctionError(f"wrong number of args for not: want 1 got {len(args)}")
        return not truth(args[0])
    if name in ("eq", "ne", "lt", "le", "gt", "ge"):
        if len(args) < 2:
            raise TemplateFunctionError(f"wrong number of args for {name}: want 2 got {len(args)}")
        if name == "eq":
            return any(_compare("eq", args[0], other) for other in args[1:])
        if len(args) != 2:
            raise TemplateFunctionError(f"wrong number of args for {name}: want 2 got {len(args)}")
        return _compare(name, args[0], args[1])
    if name == "len":
        if len(args) != 1 or not isinstance(args[0], str | list | tuple | Mapping):
            raise TemplateFunctionError(f"len of type {_type_name(args[0] if args else None)}")
        return len(args[0])
    if name == "index":
        value = args[0]
        for key in args[1:]:
            if isinstance(value, Mapping):
                if not isinstance(key, str):
                    raise TemplateFunctionError(
                        f"value has type {_type_name(key)}; should be string"
                    )
                value = value.get(key, "")
            elif isinstance(value, list | tuple | str) and isinstance(key, int):
                if not 0 <= key < len(value):
                    raise TemplateFunctionError(f"index out of range: {key}")
                value = ord(value[key]) if isinstance(value, str) else value[key]
            else:
                raise TemplateFunctionError(f"can't index item of type {_type_name(value)}")
        return value
    if name == "slice":
        value, bounds = args[0], args[1:]
        return value[slice(*bounds)] if bounds else value
    if name == "print":
        return _go_print(args)
    if name == "println":
        return " ".join(go_string(argument) for argument in args) + "\n"
    if name == "printf":
        if not args or not isinstance(args[0], str):
            raise TemplateFunctionError("wrong type for value; expected string")
        return go_sprintf(args[0], args[1:])
    if name == "html":
        return "".join(_HTML_ESCAPES.get(char, char) for char in _go_print(args))
    if name == "js":
        return "".join(_js_escape(char) for char in _go_print(args))
    if name == "urlquery":
        return urllib.parse.quote_plus(_go_print(args))
    if name == "query":
        if run.query is None:
            raise TemplateFunctionError("query is not available here")
        return list(run.query(args[0]))
    if name == "externalURL":
        return run.url
    if name == "pathPrefix":
        return urllib.parse.urlparse(run.url).path
    if name in ("graphLink", "tableLink"):
        tab = 0 if name == "graphLink" else 1
        encoded = urllib.parse.quote_plus(args[0])
        return f"/graph?g0.expr={encoded}&g0.tab={tab}"
    raise TemplateFunctionError(f"function {name} is not supported")


@lru_cache(maxsize=4096)
def _parsed(text: str, name: str) -> Template:
    return Template(text, name)


def expand_alert_template(
    text: str,
    *,
    alert_name: str,
    data: AlertData,
    query: TemplateQuery | None = None,
    external_url: str = "",
) -> str:
    """Expand one label or annotation like Prometheus does; a failure becomes the text.

    Prometheus writes ``<error expanding template: ...>`` into the label or annotation rather than
    dropping the alert, so a typo in a template never silences a page. The text is Prometheus's,
    column included.
    """
    name = f"__alert_{alert_name}"
    try:
        template = _parsed(text, name)
    except TemplateError as error:
        return f"<error expanding template: error parsing template {name}: {error}>"
    try:
        return template.render(data, query=query, external_url=external_url)
    except TemplateError as error:
        # Prometheus prepends its variable definitions to the text on line 1: same columns.
        column = error.column
        if column is not None and error.line == 1:
            column += _PROMETHEUS_DEFINITIONS_LENGTH
        located = TemplateError(error.message, name=name, line=error.line, column=column)
        return f"<error expanding template: error executing template {name}: {located}>"


#: len("{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
#:     "{{$externalURL := .ExternalURL}}{{$value := .Value}}")
_PROMETHEUS_DEFINITIONS_LENGTH = 112
