"""The functions alert templates call, with Go's formatting (``fmt``) rules.

Prometheus renders alert labels and annotations with Go's ``text/template`` and its own function
map (``template/template.go``). The values users see depend on Go's number formatting (``%v`` of
``1234567.0`` is ``1.234567e+06``, ``%.4g`` of ``+Inf`` is ``+Inf``), so this module reproduces
``fmt`` for the verbs rule files use, and the ``humanize*`` family byte for byte.

Example::

    >>> humanize(1234567.0)
    '1.235M'
    >>> humanize_duration(3725)
    '1h 2m 5s'
    >>> go_sprintf("%.2f%% of %s", [12.3456, "disk"])
    '12.35% of disk'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "GoMethod",
    "GoValue",
    "SafeHtml",
    "TemplateFunctionError",
    "TemplateSample",
    "go_duration",
    "go_quote",
    "go_sprintf",
    "go_string",
    "go_time_field",
    "go_time_format",
    "humanize",
    "humanize_1024",
    "humanize_duration",
    "humanize_percentage",
    "humanize_timestamp",
    "parse_go_duration",
    "to_float",
]


class TemplateFunctionError(Exception):
    """A template function refused its argument (becomes ``error calling NAME: ...``)."""


@dataclass
class TemplateSample:
    """One element of a ``query`` result as templates see it: ``.Labels`` and ``.Value``."""

    Labels: dict[str, str] = field(default_factory=dict)
    Value: float = 0.0


class GoValue:
    """A data object with Go fields and methods, for templates other than Prometheus's own.

    Alertmanager's templates call methods on their data (``.Alerts.Firing``,
    ``.CommonLabels.Remove .GroupLabels.Names``); a subclass answers :meth:`go_field` with a value
    or a :class:`GoMethod`, names its Go type for error messages, and may print itself as Go's
    ``String()`` method would.
    """

    #: The Go type name shown in errors: ``can't evaluate field X in type template.KV``.
    go_type = "interface {}"

    def go_field(self, name: str) -> Any:
        """The field or method ``name``; KeyError when the type has none."""
        raise KeyError(name)

    def go_string(self) -> str | None:
        """How ``{{ . }}`` prints the value (None: as Go prints the underlying kind)."""
        return None


@dataclass(frozen=True)
class GoMethod:
    """A method of a :class:`GoValue`, called with the arguments that follow it in a command."""

    name: str
    function: Callable[..., Any]
    arity: int = 0

    def __call__(self, *args: Any) -> Any:
        if len(args) != self.arity:
            raise TemplateFunctionError(
                f"wrong number of args for {self.name}: want {self.arity} got {len(args)}"
            )
        return self.function(*args)


def go_float(value: float) -> str:
    """``fmt.Sprint`` of a float64: shortest digits, exponent form outside [1e-4, 1e6)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    text = repr(value)
    sign = "-" if text.startswith("-") else ""
    text = text.lstrip("-")
    mantissa, _, exponent_text = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # Decimal point position relative to the first significant digit.
    exponent = int(exponent_text or 0) + len(whole.lstrip("0") or "") - 1
    if not whole.strip("0"):
        exponent = int(exponent_text or 0) - (len(fraction) - len(fraction.lstrip("0"))) - 1
    digits = digits.rstrip("0") or "0"
    if exponent < -4 or exponent >= 6:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    if len(digits) <= exponent + 1:
        return f"{sign}{digits}{'0' * (exponent + 1 - len(digits))}"
    return f"{sign}{digits[: exponent + 1]}.{digits[exponent + 1 :]}"


def go_string(value: Any) -> str:
    """``fmt.Sprint`` of a template value (how ``{{ x }}`` prints it)."""
    if isinstance(value, GoValue):
        text = value.go_string()
        if text is not None:
            return text
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, Mapping):
        inner = " ".join(f"{go_string(k)}:{go_string(value[k])}" for k in sorted(value))
        return f"map[{inner}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_string(item) for item in value) + "]"
    if isinstance(value, TemplateSample):
        return f"{{{go_string(value.Labels)} {go_float(value.Value)}}}"
    if isinstance(value, datetime):
        return go_time(value)
    if isinstance(value, timedelta):
        return go_duration(value)
    return str(value)


class SafeHtml(str):
    """Text that an HTML template prints as it is (Go's ``template.HTML``, from ``safeHtml``)."""

    __slots__ = ()


def go_time(moment: datetime) -> str:
    """Go's ``time.Time.String()``: ``1970-01-01 00:00:01.5 +0000 UTC`` (naive times are UTC)."""
    return go_time_format(moment, "2006-01-02 15:04:05.999999999 -0700 MST")


# Go's reference-time layout elements, longest first so that "2006" wins over "2".
_LAYOUT_CHUNKS = (
    "January", "Monday", "-07:00:00", "Z07:00:00", "-070000", "Z070000", "-07:00", "Z07:00",
    "-0700", "Z0700", "2006", "Jan", "Mon", "MST", "002", "__2", "-07", "Z07", "15", "01", "02",
    "03", "04", "05", "06", "_2", "PM", "pm", "1", "2", "3", "4", "5",
)  # fmt: skip
_FRACTION = re.compile(r"[.,](0+|9+)(?!\d)")


def go_time_format(moment: datetime, layout: str) -> str:
    """Go's ``time.Time.Format`` with a reference-time layout (``2006-01-02 15:04:05 MST``)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    out: list[str] = []
    position = 0
    while position < len(layout):
        fraction = _FRACTION.match(layout, position)
        if fraction:
            digits = f"{moment.microsecond:06d}000"[: len(fraction.group(1))]
            if fraction.group(1)[0] == "9":
                digits = digits.rstrip("0")
            out.append(layout[position] + digits if digits else "")
            position = fraction.end()
            continue
        chunk = next((c for c in _LAYOUT_CHUNKS if layout.startswith(c, position)), None)
        if chunk is None:
            out.append(layout[position])
            position += 1
            continue
        out.append(_layout_value(moment, chunk))
        position += len(chunk)
    return "".join(out)


def _layout_value(moment: datetime, chunk: str) -> str:
    hour12 = moment.hour % 12 or 12
    simple = {
        "January": moment.strftime("%B"), "Jan": moment.strftime("%b"),
        "Monday": moment.strftime("%A"), "Mon": moment.strftime("%a"),
        "2006": f"{moment.year:04d}", "06": f"{moment.year % 100:02d}",
        "01": f"{moment.month:02d}", "1": str(moment.month), "02": f"{moment.day:02d}",
        "2": str(moment.day), "_2": f"{moment.day:2d}",
        "002": f"{moment.timetuple().tm_yday:03d}", "__2": f"{moment.timetuple().tm_yday:3d}",
        "15": f"{moment.hour:02d}", "03": f"{hour12:02d}", "3": str(hour12),
        "04": f"{moment.minute:02d}", "4": str(moment.minute),
        "05": f"{moment.second:02d}", "5": str(moment.second),
        "PM": "PM" if moment.hour >= 12 else "AM", "pm": "pm" if moment.hour >= 12 else "am",
    }  # fmt: skip
    if chunk in simple:
        return simple[chunk]
    offset = moment.utcoffset() or timedelta(0)
    if chunk == "MST":
        name = moment.tzname() or ""
        return "UTC" if name in ("UTC", "UTC+00:00") else name
    seconds = int(offset.total_seconds())
    if chunk.startswith("Z") and seconds == 0:
        return "Z"
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    body = chunk[1:]
    if body == "07":
        return f"{sign}{hours:02d}"
    if body == "0700":
        return f"{sign}{hours:02d}{minutes:02d}"
    if body == "07:00":
        return f"{sign}{hours:02d}:{minutes:02d}"
    if body == "070000":
        return f"{sign}{hours:02d}{minutes:02d}{secs:02d}"
    return f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}"


def go_time_field(moment: datetime, name: str) -> Any:
    """The methods of Go's ``time.Time`` templates use: ``.Format``, ``.Unix``, ``.UTC``…."""
    methods: dict[str, GoMethod] = {
        "Format": GoMethod("Format", lambda layout: go_time_format(moment, str(layout)), 1),
        "String": GoMethod("String", lambda: go_time(moment)),
        "Unix": GoMethod("Unix", lambda: int(moment.timestamp() // 1)),
        "UnixMilli": GoMethod("UnixMilli", lambda: int(moment.timestamp() * 1000 // 1)),
        "UTC": GoMethod("UTC", lambda: moment.astimezone(UTC)),
        "Local": GoMethod("Local", lambda: moment.astimezone()),
        "IsZero": GoMethod("IsZero", lambda: moment.year == 1 and moment.timestamp() <= _ZERO_S),
    }
    return methods[name]


_ZERO_S = datetime(1, 1, 1, tzinfo=UTC).timestamp()


def go_duration(delta: timedelta) -> str:
    """Go's ``time.Duration.String()``: ``1h2m3.5s``, ``250ms``, ``0s``."""
    microseconds = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    sign = "-" if microseconds < 0 else ""
    microseconds = abs(microseconds)
    if microseconds == 0:
        return "0s"
    if microseconds < 1000:
        return f"{sign}{microseconds}µs"
    if microseconds < 1_000_000:
        return f"{sign}{_trim(microseconds / 1000)}ms"
    hours, rest = divmod(microseconds, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds = _trim(rest / 1_000_000)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _trim(number: float) -> str:
    return f"{number:.6f}".rstrip("0").rstrip(".")


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: double quotes, Go escapes, printable Unicode kept."""
    escapes = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
    escapes |= {"\r": "\\r", "\t": "\\t", "\v": "\\v"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x10000:
            out.append(f"\\x{ord(char):02x}" if ord(char) < 0x80 else f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def _go_type(value: Any) -> str:
    if isinstance(value, GoValue):
        return value.go_type
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "<nil>"
    if isinstance(value, Mapping):
        return "map[string]string"
    if isinstance(value, TemplateSample):
        return "*template.sample"
    return "[]interface {}" if isinstance(value, list | tuple) else type(value).__name__


def _float_text(value: float, spec: str) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return spec % value


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*)?)?([a-zA-Z%])")


def go_sprintf(format_text: str, args: Sequence[Any]) -> str:
    """Go's ``fmt.Sprintf`` for the verbs templates use: v s d f F e E g G x X o q t c %."""
    out: list[str] = []
    position = 0
    index = 0
    for match in _VERB.finditer(format_text):
        out.append(format_text[position : match.start()])
        position = match.end()
        flags, width, precision, verb = match.groups()
        has_precision = "." in match.group(0)
        if verb == "%":
            out.append("%")
            continue
        if width == "*":
            width = str(args[index]) if index < len(args) else ""
            index += 1
        if precision == "*":
            precision = str(args[index]) if index < len(args) else ""
            index += 1
        if index >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        value = args[index]
        index += 1
        spec = "%" + flags + (width or "") + (f".{precision or 0}" if has_precision else "")
        out.append(_format_one(spec, verb, value, has_precision))
    out.append(format_text[position:])
    if index < len(args):
        extra = ", ".join(f"{_go_type(a)}={go_string(a)}" for a in args[index:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_one(spec: str, verb: str, value: Any, has_precision: bool) -> str:
    bad = f"%!{verb}({_go_type(value)}={go_string(value)})"
    if verb == "v":
        text = go_string(value)
        if isinstance(value, float) and has_precision:
            text = _float_text(value, spec + "g")
        return _pad(spec, text)
    if verb in "sq":
        if isinstance(value, str):
            text = go_quote(value) if verb == "q" else value
            if verb == "s" and has_precision:
                return (spec + "s") % value
            return _pad(spec, text)
        if verb == "s" and isinstance(
            value, Mapping | list | tuple | TemplateSample | datetime | GoValue | timedelta
        ):
            return _pad(spec, go_string(value))
        if verb == "q" and isinstance(value, int) and not isinstance(value, bool):
            return _pad(spec, "'" + chr(value) + "'")
        return bad
    if verb == "t":
        return _pad(spec, go_string(value)) if isinstance(value, bool) else bad
    if isinstance(value, bool):
        return bad
    if verb in "dboxXc" and isinstance(value, int):
        if verb == "c":
            return chr(value)
        python_verb = {"d": "d", "b": "b", "o": "o", "x": "x", "X": "X"}[verb]
        return (
            format(value, spec[1:] + python_verb) if verb == "b" else (spec + python_verb) % value
        )
    if verb in "xX" and isinstance(value, str):
        text = value.encode().hex()
        return _pad(spec, text.upper() if verb == "X" else text)
    if verb in "eEfFgG" and isinstance(value, float):
        return _float_text(value, spec + verb.lower() if verb == "F" else spec + verb)
    return bad


def _pad(spec: str, text: str) -> str:
    width_match = re.search(r"(\d+)", spec.split(".")[0])
    if not width_match:
        return text
    width = int(width_match.group(1))
    return text.ljust(width) if "-" in spec else text.rjust(width)


def to_float(value: Any) -> float:
    """Prometheus's ``convertToFloat``: numbers as they are, strings parsed as Go would."""
    if isinstance(value, bool):
        raise TemplateFunctionError("can't convert bool to float")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        lowered = text.lower().lstrip("+-")
        if lowered in {"inf", "infinity", "nan"}:
            return float(text)
        try:
            return float(text) if re.fullmatch(r"[+-]?[0-9._eExXpPa-fA-F]+", text) else _fail(value)
        except ValueError:
            return _fail(value)
    raise TemplateFunctionError(f"can't convert {_go_type(value)} to float")


def _fail(value: str) -> float:
    raise TemplateFunctionError(f"strconv.ParseFloat: parsing {go_quote(value)}: invalid syntax")


def _g4(value: float) -> str:
    return _float_text(value, "%.4g")


def humanize(value: Any) -> str:
    """SI prefixes, 4 significant digits: ``1234567`` → ``1.235M``, ``0.0012`` → ``1.2m``."""
    number = to_float(value)
    if number == 0 or math.isnan(number) or math.isinf(number):
        return _g4(number)
    prefix = ""
    if abs(number) >= 1:
        for candidate in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(number) < 1000:
                break
            prefix = candidate
            number /= 1000
        return _g4(number) + prefix
    for candidate in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(number) >= 1:
            break
        prefix = candidate
        number *= 1000
    return _g4(number) + prefix


def humanize_1024(value: Any) -> str:
    """Binary prefixes: ``1048576`` → ``1Mi``."""
    number = to_float(value)
    if abs(number) <= 1 or math.isnan(number) or math.isinf(number):
        return _g4(number)
    prefix = ""
    for candidate in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(number) < 1024:
            break
        prefix = candidate
        number /= 1024
    return _g4(number) + prefix


def humanize_duration(value: Any) -> str:
    """Seconds as ``1d 2h 3m 4s``, or ``1.5s`` / ``250ms`` under a minute."""
    number = to_float(value)
    if math.isnan(number) or math.isinf(number):
        return _g4(number)
    if number == 0:
        return _g4(number) + "s"
    if abs(number) >= 1:
        sign = "-" if number < 0 else ""
        number = abs(number)
        whole = int(number)
        seconds, minutes = whole % 60, (whole // 60) % 60
        hours, days = (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(number)}s"
    prefix = ""
    for candidate in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(number) >= 1:
            break
        prefix = candidate
        number *= 1000
    return f"{_g4(number)}{prefix}s"


def humanize_percentage(value: Any) -> str:
    """A ratio as a percentage: ``0.1234`` → ``12.34%``."""
    return _g4(to_float(value) * 100) + "%"


def humanize_timestamp(value: Any) -> str:
    """Unix seconds as Go prints a UTC time: ``1970-01-01 00:00:01 +0000 UTC``."""
    number = to_float(value)
    if math.isnan(number) or math.isinf(number):
        return _g4(number)
    return go_time(_time_from_seconds(number))


def _time_from_seconds(number: float) -> datetime:
    # Prometheus's floatToTime: nanoseconds, then model.Time, which truncates to milliseconds.
    nanoseconds = int(number * 1e9)
    milliseconds = abs(nanoseconds) // 1_000_000 * (1 if nanoseconds >= 0 else -1)
    return datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=milliseconds)


_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)


def parse_go_duration(text: str) -> int:
    """Prometheus's duration (``model.ParseDuration``) in milliseconds: ``1h30m`` → 5400000."""
    if text == "0":
        return 0
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"not a valid duration string: {text!r}")
    return sum(
        int(g) * unit for g, unit in zip(match.groups(), _DURATION_UNITS_MS, strict=True) if g
    )


def _match(pattern: str, text: str) -> bool:
    return re.search(_go_regex(pattern), text) is not None


def _go_regex(pattern: str) -> str:
    # RE2 and Python agree on the syntax rule files use; named groups differ: (?P<n>) is shared.
    return pattern


def _re_replace_all(pattern: str, replacement: str, text: str) -> str:
    # Go expands $1 / ${name}; Python uses \1 / \g<name>.
    python_replacement = re.sub(
        r"\$(\{(\w+)\}|(\w+))",
        lambda m: f"\\g<{m.group(2) or m.group(3)}>",
        replacement.replace("\\", "\\\\"),
    )
    try:
        return re.sub(_go_regex(pattern), python_replacement, text)
    except (re.error, IndexError):
        return re.sub(_go_regex(pattern), replacement, text)


def _is_separator(char: str) -> bool:
    # Go's strings.Title: ASCII other than letters, digits and "_" separates words; beyond ASCII
    # only spaces do (letters, digits and other symbols do not).
    if ord(char) <= 0x7F:
        return not (char.isalnum() or char == "_")
    if char.isalpha() or char.isdigit():
        return False
    return char.isspace()


def _title(text: str) -> str:
    """Go's ``strings.Title``: upper-case each word's first letter, leave the rest alone."""
    out: list[str] = []
    previous = " "
    for char in text:
        out.append(char.upper() if _is_separator(previous) else char)
        previous = char
    return "".join(out)


def _first(result: Sequence[TemplateSample]) -> TemplateSample:
    if len(result) > 0:
        return result[0]
    raise TemplateFunctionError("first() called on vector with no elements")


def _label(name: str, sample: TemplateSample) -> str:
    return sample.Labels.get(name, "")


def _value(sample: TemplateSample) -> float:
    return sample.Value


def _strvalue(sample: TemplateSample) -> str:
    return sample.Labels.get("__value__", "")


def _sort_by_label(name: str, result: Sequence[TemplateSample]) -> list[TemplateSample]:
    return sorted(result, key=lambda sample: sample.Labels.get(name, ""))


def _args(*values: Any) -> dict[str, Any]:
    return {f"arg{i}": value for i, value in enumerate(values)}


def _parse_duration(text: str) -> float:
    try:
        return parse_go_duration(text) / 1000
    except ValueError as error:
        raise TemplateFunctionError(str(error)) from None


def _strip_port(host_port: str) -> str:
    if host_port.startswith("["):
        return host_port[1 : host_port.find("]")] if "]" in host_port else host_port
    head, sep, tail = host_port.rpartition(":")
    return head if sep and tail.isdigit() and ":" not in head else host_port


def _strip_domain(host_port: str) -> str:
    host, port = host_port, ""
    head, sep, tail = host_port.rpartition(":")
    if sep and tail.isdigit() and ":" not in head:
        host, port = head, ":" + tail
    if re.fullmatch(r"[\d.]+|\[.*\]|.*:.*", host):
        return host_port
    return host.split(".", 1)[0] + port


def _to_time(value: Any) -> datetime:
    number = to_float(value)
    if math.isnan(number) or math.isinf(number):
        raise TemplateFunctionError("value is NaN or Inf")
    return _time_from_seconds(number)


def _safe_html(text: str) -> str:
    return text


#: Prometheus's template functions that need no evaluation context (``query`` is added per call).
PURE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "first": _first,
    "label": _label,
    "value": _value,
    "strvalue": _strvalue,
    "args": _args,
    "reReplaceAll": _re_replace_all,
    "safeHtml": _safe_html,
    "match": _match,
    "title": _title,
    "toUpper": str.upper,
    "toLower": str.lower,
    "sortByLabel": _sort_by_label,
    "humanize": humanize,
    "humanize1024": humanize_1024,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
    "humanizeTimestamp": humanize_timestamp,
    "toTime": _to_time,
    "parseDuration": _parse_duration,
    "stripPort": _strip_port,
    "stripDomain": _strip_domain,
}
