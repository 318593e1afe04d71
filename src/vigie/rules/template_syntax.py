"""The syntax of Go ``text/template`` as alert templates use it: tokens, tree, parser.

The parser checks what Go's checks at parse time — unknown functions, undefined variables,
unbalanced actions — so ``vigie rules check`` rejects the same templates Prometheus rejects.
:mod:`.templating` executes the tree.

Example::

    >>> [type(node).__name__ for node in Parser("Hi {{ $labels.job }}", "t").parse()]
    ['Text', 'Action']
    >>> Parser("{{ nosuch }}", "t").parse()
    Traceback (most recent call last):
    ...
    vigie.rules.template_syntax.TemplateError: template: t:1: function "nosuch" not defined
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vigie.rules.template_functions import PURE_FUNCTIONS, go_quote

__all__ = [
    "BUILTIN_NAMES",
    "FUNCTION_NAMES",
    "RULE_VARIABLES",
    "Action",
    "Branch",
    "Call",
    "Command",
    "Jump",
    "Node",
    "Operand",
    "Parser",
    "Pipeline",
    "TemplateError",
    "Text",
    "pipeline_text",
]

_BUILTINS = {
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js",
    "urlquery", "eq", "ne", "lt", "le", "gt", "ge", "call",
}  # fmt: skip
_CONTEXT_FUNCTIONS = {"query", "externalURL", "pathPrefix", "graphLink", "tableLink"}
FUNCTION_NAMES = frozenset(_BUILTINS | _CONTEXT_FUNCTIONS | set(PURE_FUNCTIONS))
#: Go's own template functions, available in every dialect.
BUILTIN_NAMES = frozenset(_BUILTINS)
#: The variables Prometheus defines before an alert template's text.
RULE_VARIABLES = frozenset({"$", "$labels", "$externalLabels", "$externalURL", "$value"})


class TemplateError(Exception):
    """A template that does not parse or fails while executing; reads like Go's errors.

    ``line`` (1-based) and ``column`` (bytes from the line start, 0-based, as Go counts) locate the
    problem in the template text; parse errors carry only the line, as Go's.
    """

    def __init__(self, message: str, *, name: str, line: int, column: int | None = None) -> None:
        self.message = message
        self.name = name
        self.line = line
        self.column = column
        where = f"{name}:{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"template: {where}: {message}")


# ---------------------------------------------------------------------------- lexer

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)
                      (?:[eE][+-]?\d+)?)(?![\w.]))
  | (?P<variable>\$\w*(?:\.\w+)*)
  | (?P<field>(?:\.\w+)+|\.)
  | (?P<identifier>[A-Za-z_]\w*)
  | (?P<badnumber>[+-]?\.?\d[\w.]*)
    """,
    re.VERBOSE,
)


@dataclass
class Token:
    """One lexical item of an action."""

    kind: str
    text: str
    offset: int  # in the template text
    spaced: bool  # whitespace before it


def _tokenize_action(
    text: str, base: int, error: Callable[[str, int], TemplateError]
) -> list[Token]:
    """The tokens of one action's text; ``base`` is its offset in the template."""
    tokens: list[Token] = []
    position = 0
    spaced = True
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise error(f"unexpected {go_quote(text[position])} in command", base + position)
        if match.lastgroup == "badnumber":
            raise error(f"illegal number syntax: {go_quote(match.group())}", base + position)
        kind = match.lastgroup or ""
        if kind == "space":
            spaced = True
        else:
            tokens.append(Token(kind, match.group(), base + position, spaced))
            spaced = False
        position = match.end()
    return tokens


# ---------------------------------------------------------------------------- tree


@dataclass
class Node:
    offset: int


@dataclass
class Text(Node):
    text: str


@dataclass
class Operand(Node):
    kind: str  # literal | dot | field | variable | function | pipeline
    value: Any
    chain: tuple[str, ...] = ()
    source: str = ""


@dataclass
class Command(Node):
    operands: list[Operand]


@dataclass
class Pipeline(Node):
    declarations: list[str]
    assign: bool
    commands: list[Command]


@dataclass
class Action(Node):
    pipeline: Pipeline


@dataclass
class Branch(Node):
    kind: str  # if | range | with
    pipeline: Pipeline
    body: list[Node]
    otherwise: list[Node]


@dataclass
class Call(Node):
    """``{{ template "name" pipeline }}``: run a ``define``d template with a new dot."""

    name: str
    pipeline: Pipeline | None


@dataclass
class Jump(Node):
    kind: str  # break | continue


class Parser:
    """Turns template text into a node list; checks functions and variables like Go's parser."""

    def __init__(
        self,
        text: str,
        name: str,
        *,
        functions: frozenset[str] = FUNCTION_NAMES,
        variables: frozenset[str] = RULE_VARIABLES,
    ) -> None:
        self.text = text
        self.name = name
        self.functions = functions
        self.items = self._split(text)
        self.index = 0
        self.scopes: list[set[str]] = [set(variables)]
        self.loops = 0
        #: ``{{ define "name" }}`` bodies, run by ``{{ template "name" }}``.
        self.definitions: dict[str, list[Node]] = {}

    def locate(self, offset: int) -> tuple[int, int]:
        """Line (1-based) and column of ``offset``; the column counts bytes from 0, as Go's."""
        line = self.text.count("\n", 0, offset) + 1
        line_start = self.text.rfind("\n", 0, offset) + 1
        return line, len(self.text[line_start:offset].encode())

    def error(self, message: str, offset: int) -> TemplateError:
        return TemplateError(message, name=self.name, line=self.locate(offset)[0])

    def _split(self, text: str) -> list[tuple[str, str, int]]:
        """Text and action pieces, with ``{{-``/``-}}`` trimming applied."""
        items: list[tuple[str, str, int]] = []
        position = 0
        trim_next = False
        while True:
            start = text.find("{{", position)
            chunk = text[position : start if start >= 0 else len(text)]
            if trim_next:
                stripped = chunk.lstrip(" \t\r\n")
                position += len(chunk) - len(stripped)
                chunk = stripped
            if start < 0:
                if chunk:
                    items.append(("text", chunk, position))
                return items
            inner_start = start + 2
            trimmed = text[inner_start : inner_start + 2] in ("- ", "-\t", "-\n", "-\r")
            if trimmed:
                chunk = chunk.rstrip(" \t\r\n")
                inner_start += 1
            if chunk:
                items.append(("text", chunk, position))
            # A comment starts right after "{{" or after the "- " trim marker, nowhere else.
            body_start = inner_start + 1 if trimmed else inner_start
            if text.startswith("/*", body_start):
                close = text.find("*/", body_start + 2)
                if close < 0:
                    raise self.error("unclosed comment", start)
                end = text.find("}}", close + 2)
                if end < 0 or text[close + 2 : end].strip(" \t\r\n") not in ("", "-"):
                    raise self.error("comment ends before closing delimiter", start)
                trim_next = text[close + 2 : end].strip(" \t\r\n") == "-"
                position = end + 2
                continue
            end = self._find_close(text, inner_start, start)
            inner_end = end
            trim_next = False
            if end - 1 > inner_start and text[end - 1] == "-" and text[end - 2] in " \t\r\n":
                inner_end = end - 1
                trim_next = True
            items.append(("action", text[inner_start:inner_end], inner_start))
            position = end + 2

    def _find_close(self, text: str, position: int, start: int) -> int:
        quote = ""
        while position < len(text):
            char = text[position]
            if quote:
                if char == "\\" and quote != "`":
                    position += 2
                    continue
                if char == quote:
                    quote = ""
                elif char == "\n" and quote != "`":
                    raise self.error("unterminated quoted string", position)
            elif char in "\"'`":
                quote = char
            elif text.startswith("}}", position):
                return position
            position += 1
        if quote:
            kind = {"`": "raw quoted string", "'": "character constant"}.get(quote, "quoted string")
            raise self.error(f"unterminated {kind}", start)
        raise self.error("unclosed action", start)

    def parse(self) -> list[Node]:
        nodes, terminator = self._list(top=True)
        if terminator is not None:
            raise self.error(f"unexpected {{{{{terminator[0]}}}}}", terminator[1])
        return nodes

    def _list(self, top: bool = False) -> tuple[list[Node], tuple[str, int, list[Token]] | None]:
        nodes: list[Node] = []
        while self.index < len(self.items):
            kind, body, offset = self.items[self.index]
            self.index += 1
            if kind == "text":
                nodes.append(Text(offset, body))
                continue
            tokens = _tokenize_action(body, offset, self.error)
            if not tokens:
                raise self.error("missing value for command", offset)
            head = tokens[0]
            word = head.text if head.kind == "identifier" else ""
            if word in ("end", "else"):
                return nodes, (word, offset, tokens[1:])
            if word in ("if", "range", "with"):
                nodes.append(self._branch(word, tokens[1:], offset))
            elif word in ("break", "continue"):
                if not self.loops:
                    raise self.error(f"{{{{{word}}}}} outside {{{{range}}}}", offset)
                if len(tokens) > 1:
                    raise self.error(
                        f"unexpected {go_quote(tokens[1].text)} in {{{{{word}}}}}", offset
                    )
                nodes.append(Jump(offset, word))
            elif word in ("define", "block"):
                if not top and word == "define":
                    raise self.error("unexpected <define> in command", offset)
                call = self._definition(word, tokens[1:], offset)
                if call is not None:
                    nodes.append(call)
            elif word == "template":
                nodes.append(self._call(tokens[1:], offset, "template clause"))
            else:
                nodes.append(Action(offset, self._pipeline(tokens, offset, allow_decl=True)))
        if not top:
            raise self.error("unexpected EOF", len(self.text))
        return nodes, None

    def _call(self, tokens: list[Token], offset: int, context: str) -> Call:
        """``template "name" [pipeline]`` (also the call half of ``block``)."""
        if not tokens or tokens[0].kind not in ("string", "raw"):
            found = go_quote(tokens[0].text) if tokens else "EOF"
            raise self.error(f"unexpected {found} in {context}", offset)
        name = str(_literal(tokens[0]))
        pipeline = self._pipeline(tokens[1:], offset, allow_decl=True) if tokens[1:] else None
        # Go points errors of a template call at its name.
        return Call(tokens[0].offset, name, pipeline)

    def _definition(self, word: str, tokens: list[Token], offset: int) -> Call | None:
        """``define "name"``/``block "name" pipeline``: a body with its own variables (only $)."""
        call = self._call(tokens, offset, f"{word} clause")
        if word == "define" and call.pipeline is not None:
            raise self.error("unexpected pipeline in define clause", offset)
        scopes, loops = self.scopes, self.loops
        self.scopes, self.loops = [{"$"}], 0
        body, terminator = self._list()
        self.scopes, self.loops = scopes, loops
        assert terminator is not None
        if terminator[0] != "end":
            raise self.error(f"unexpected {{{{{terminator[0]}}}}}", terminator[1])
        self.definitions[call.name] = body
        return call if word == "block" else None

    def _branch(self, kind: str, tokens: list[Token], offset: int) -> Branch:
        self.scopes.append(set())
        pipeline = self._pipeline(tokens, offset, allow_decl=True, context=kind)
        if kind == "range":
            self.loops += 1
        body, terminator = self._list()
        if kind == "range":
            self.loops -= 1
        otherwise: list[Node] = []
        assert terminator is not None
        word, else_offset, rest = terminator
        if word == "else":
            if rest and rest[0].kind == "identifier" and rest[0].text in ("if", "with"):
                # `else if` / `else with` is a nested branch that shares the same {{end}}.
                otherwise = [self._branch(rest[0].text, rest[1:], else_offset)]
            else:
                if rest:
                    raise self.error(f"unexpected {go_quote(rest[0].text)} in else", else_offset)
                otherwise, terminator = self._list()
                assert terminator is not None
                if terminator[0] != "end":
                    raise self.error("expected end; found {{else}}", terminator[1])
        elif rest:
            raise self.error(f"unexpected {go_quote(rest[0].text)} in end", else_offset)
        self.scopes.pop()
        return Branch(offset, kind, pipeline, body, otherwise)

    def _pipeline(
        self, tokens: list[Token], offset: int, *, allow_decl: bool, context: str = "command"
    ) -> Pipeline:
        declarations: list[str] = []
        assign = False
        position = 0
        if allow_decl and tokens and tokens[0].kind == "variable":
            names = [tokens[0]]
            while (
                len(tokens) > len(names) * 2
                and tokens[len(names) * 2 - 1].kind == "comma"
                and tokens[len(names) * 2].kind == "variable"
            ):
                names.append(tokens[len(names) * 2])
            after = len(names) * 2 - 1
            if len(tokens) > after and tokens[after].kind in ("declare", "assign"):
                if len(names) > (2 if context == "range" else 1):
                    raise self.error(f"too many declarations in {context}", offset)
                assign = tokens[after].kind == "assign"
                for name in names:
                    if "." in name.text:
                        raise self.error(f"unexpected {go_quote(name.text)} in command", offset)
                declarations = [name.text for name in names]
                position = after + 1
        commands: list[Command] = []
        current: list[Operand] = []
        rest = tokens[position:]
        index = 0
        while index < len(rest):
            token = rest[index]
            if token.kind == "pipe":
                if not current:
                    raise self.error(f"unexpected {go_quote('|')} in command", offset)
                commands.append(Command(current[0].offset, current))
                current = []
                index += 1
                continue
            operand, index = self._operand(rest, index, offset)
            current.append(operand)
        if current:
            commands.append(Command(current[0].offset, current))
        # A trailing "|" is accepted, as Go's parser does.
        if not commands:
            raise self.error(f"missing value for {context}", offset)
        for stage, command in enumerate(commands[1:], start=2):
            first = command.operands[0]
            if first.kind == "dot" or (first.kind == "literal" and not first.chain):
                raise self.error(f"non executable command in pipeline stage {stage}", offset)
        # Go adds declared and assigned names alike; assigning an unknown one fails when run.
        self.scopes[-1].update(declarations)
        return Pipeline(offset, declarations, assign, commands)

    def _defined(self, variable: str) -> bool:
        return any(variable in scope for scope in self.scopes)

    def _operand(self, tokens: list[Token], index: int, offset: int) -> tuple[Operand, int]:
        token = tokens[index]
        index += 1
        operand: Operand
        if token.kind == "lparen":
            depth, end = 1, index
            while end < len(tokens) and depth:
                depth += {"lparen": 1, "rparen": -1}.get(tokens[end].kind, 0)
                end += 1
            if depth:
                raise self.error("unclosed left paren", token.offset)
            inner = self._pipeline(tokens[index : end - 1], token.offset, allow_decl=True)
            operand = Operand(token.offset, "pipeline", inner, source=f"({pipeline_text(inner)})")
            index = end
        elif token.kind in ("string", "raw", "char", "number"):
            try:
                value = _literal(token)
            except ValueError as problem:
                raise self.error(str(problem), token.offset) from None
            operand = Operand(token.offset, "literal", value, source=token.text)
        elif token.kind == "field":
            chain = tuple(piece for piece in token.text.split(".") if piece)
            operand = Operand(token.offset, "dot" if not chain else "field", None, chain)
            operand.source = token.text
        elif token.kind == "variable":
            name, *pieces = token.text.split(".")
            if not self._defined(name):
                raise self.error(f'undefined variable "{name}"', token.offset)
            operand = Operand(token.offset, "variable", name, tuple(pieces), source=token.text)
        elif token.kind == "identifier":
            if token.text in ("true", "false"):
                operand = Operand(token.offset, "literal", token.text == "true", source=token.text)
            elif token.text == "nil":
                operand = Operand(token.offset, "literal", None, source="nil")
            elif token.text in self.functions:
                operand = Operand(token.offset, "function", token.text, source=token.text)
            else:
                raise self.error(f'function "{token.text}" not defined', token.offset)
        else:
            raise self.error(f"unexpected {go_quote(token.text)} in command", token.offset)
        # A field chain glued to a closing parenthesis: (query "x" | first).Labels
        if index < len(tokens) and tokens[index].kind == "field" and not tokens[index].spaced:
            if tokens[index].text == ".":
                raise self.error("unexpected <.> in operand", token.offset)
            if operand.kind not in ("pipeline", "variable", "field", "dot"):
                raise self.error(
                    f"unexpected . after term {go_quote(operand.source)}", token.offset
                )
            extra = tuple(piece for piece in tokens[index].text.split(".") if piece)
            operand.chain = operand.chain + extra
            index += 1
        return operand, index


def pipeline_text(pipeline: Pipeline) -> str:
    """A pipeline as Go prints it in errors: ``$x := query "up" | first``."""
    commands = " | ".join(
        " ".join(operand.source for operand in command.operands) for command in pipeline.commands
    )
    if pipeline.declarations:
        operator = " = " if pipeline.assign else " := "
        return ", ".join(pipeline.declarations) + operator + commands
    return commands


def _literal(token: Token) -> Any:
    """A constant's value; ValueError with Go's message when it is malformed."""
    if token.kind == "raw":
        return token.text[1:-1]
    if token.kind == "string":
        try:
            return json.loads(_go_to_json_string(token.text))
        except ValueError:
            raise ValueError("invalid syntax") from None
    if token.kind == "char":
        try:
            char = json.loads(_go_to_json_string('"' + token.text[1:-1] + '"'))
        except ValueError:
            char = ""
        if len(char) != 1:
            raise ValueError(f"malformed character constant: {token.text}")
        return ord(char)
    text = token.text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?(0[xX][0-9a-fA-F]+|\d+)", text):
            return int(text, 0) if not re.fullmatch(r"[+-]?0\d+", text) else int(text, 8)
        return float(text)
    except ValueError:
        raise ValueError(f'illegal number syntax: "{token.text}"') from None


def _go_to_json_string(text: str) -> str:
    # Go escapes JSON lacks: \a \v \x41 \' ; the rest (\n \t \" \\ \u) are shared.
    def replace(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape == "a":
            return "\\u0007"
        if escape == "v":
            return "\\u000b"
        if escape == "'":
            return "'"
        if escape.startswith("x"):
            return f"\\u00{escape[1:]}"
        if escape.startswith("U"):
            return json.dumps(chr(int(escape[1:], 16)))[1:-1]
        return "\\" + escape

    return re.sub(r"\\(x[0-9a-fA-F]{2}|U[0-9a-fA-F]{8}|.)", replace, text)
