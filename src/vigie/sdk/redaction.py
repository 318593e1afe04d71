"""Redaction of personal data and secrets in log lines, on by default.

A log line must never carry an e-mail address, a phone number, a payment card, an IBAN, an API key
or a password out of the process. :class:`Redactor` finds them in free text (the message, every
extra field, exception text) and replaces each with ``[REDACTED:<kind>]``. Look-alikes stay: a
16-digit order number that fails the Luhn check, an IBAN-shaped string whose mod-97 checksum is
wrong, ``max_tokens=256``, a 32-hex trace id.

Rules, each with the kind it reports:

* ``email`` — ``name@domain.tld``
* ``phone`` — international (``+33 6 12 34 56 78``, ``+1 415 555 0132``) and French national
  (``06 12 34 56 78``, ``06.12.34.56.78``, ``0612345678``) formats
* ``card`` — 13 to 19 digits (spaces or dashes allowed) with a card-network prefix, Luhn-checked
* ``iban`` — country code, check digits, length of that country, mod-97 checksum valid
* ``api_key`` — OpenAI/Anthropic ``sk-...``, Stripe, GitHub, Slack, Google API keys
* ``aws_key`` — AWS access key ids (``AKIA...``, ``ASIA...``)
* ``jwt`` — ``eyJ....eyJ....sig`` JSON web tokens
* ``bearer`` — ``Bearer <token>`` and ``Basic <credentials>``
* ``secret`` — the value of a password/secret/token/api-key field in ``key=value``,
  ``key: value`` and JSON text, and of URL credentials (``https://user:pass@host``)

A field whose *name* is sensitive (``password``, ``api_key``, ``access_token``, ...) is redacted
whole, whatever its value; allow-listed field names are left alone. Users add their own patterns.

Example::

    >>> redactor = Redactor()
    >>> redactor.redact("mail alice@example.com, password=hunter2, max_tokens=256")
    'mail [REDACTED:email], password=[REDACTED:secret], max_tokens=256'
    >>> Redactor(patterns={"ticket": r"TCK-\\d{6}"}).redact("see TCK-123456")
    'see [REDACTED:ticket]'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vigie.exceptions import ConfigurationError

__all__ = ["Detection", "Redactor", "iban_is_valid", "is_sensitive_key", "luhn_is_valid"]

# Names of fields whose value is a secret; a key matches when it *ends* with one of them, so
# ``access_token`` and ``db_password`` match while ``max_tokens`` and ``token_count`` do not.
_SENSITIVE_WORDS = (
    r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|secret[_-]?key|client[_-]?secret|authorization|credentials?|cookie|"
    r"session[_-]?id|signature"
)
_SENSITIVE_KEY = re.compile(rf"(?:^|[\w.-]*?[_.-])(?:{_SENSITIVE_WORDS})$", re.IGNORECASE)
# Cheap pre-filters (on the lower-cased line) before running the costlier rules.
_KEYWORD_HINTS = (
    "pass", "pwd", "secret", "token", "key", "authorization", "credential", "cookie", "session",
    "signature",
)  # fmt: skip
_KEY_HINTS = ("sk_", "rk_", "pk_", "gh", "github_pat_", "xox", "aiza")
_AWS_HINTS = ("akia", "asia", "abia", "acca", "aroa", "aida")
# One search of the lower-cased line decides whether the key and field rules run at all.
_HINT = re.compile(
    "|".join(
        re.escape(hint)
        for hint in (
            *_KEYWORD_HINTS,
            *_KEY_HINTS,
            *_AWS_HINTS,
            "sk-",
            "eyj",
            "bearer",
            "basic",
            "://",
        )
    )
)
# Phones, cards and IBANs all hold a run of at least 8 digits (separators allowed).
_NUMBERISH = re.compile(r"\d(?:[ .()/-]{0,3}\d){7}")

_KEY_NAME = rf"[\w.-]*?(?:{_SENSITIVE_WORDS})"
# "password": "value"   /   'token': 'value'
_JSON_FIELD = re.compile(
    rf"""(?P<q>["'])(?P<key>{_KEY_NAME})(?P=q)\s*:\s*(?P<vq>["'])(?P<value>(?:\\.|(?!(?P=vq)).)+)(?P=vq)""",
    re.IGNORECASE,
)
# password=value   password: value   token = "value"   (not preceded by a word character)
_KEY_VALUE = re.compile(
    rf"""(?<![\w-])(?P<key>{_KEY_NAME})(?![\w-])\s*[:=]\s*"""
    r"""(?:(?P<vq>["'])(?P<qvalue>(?:\\.|(?!(?P=vq)).)+)(?P=vq)"""
    r"""|(?P<scheme>(?:bearer|basic|token)\s+)?(?P<value>[^\s,;&"'<>{}()\[\]]+))""",
    re.IGNORECASE,
)
_URL_USER_BEFORE = re.compile(r"://[^\s/:@]+:$")
_URL_CREDENTIALS = re.compile(r"(?<=://)(?P<user>[^\s/:@]+):(?P<value>[^\s/@]+)(?=@)")

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
    r"(?P<tld>[A-Za-z]{2,24})(?![\w-])"
)
# File extensions that look like top-level domains in ``icon@2x.png``.
_NOT_TLDS = frozenset(
    {"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css", "js", "py", "txt", "log", "json"}
)

_PHONE_INTERNATIONAL = re.compile(
    r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(0\))?(?:[ .-]?\(?\d{1,4}\)?){2,6}(?![\d])"
)
# Ten digits in pairs with one separator throughout: "06 12 34 56 78", "06.12.34.56.78".
_PHONE_FRENCH = re.compile(
    r"(?<![\w.,:/+-])0[1-9](?P<sep>[ .-]?)\d{2}(?:(?P=sep)\d{2}){3}(?![\w]|[.,:/-]\d)"
)

_CARD = re.compile(r"(?<![\d.,-])(?:\d[ -]?){12,18}\d(?![\d]|[.,-]\d)")
_IBAN = re.compile(r"(?<![A-Za-z0-9])(?P<cc>[A-Za-z]{2})\d{2}(?: ?[A-Za-z0-9]){10,32}")

_OPENAI_KEY = re.compile(r"(?<![\w-])sk-(?:[A-Za-z]+-)?[A-Za-z0-9_-]{20,}")
_OTHER_KEYS = re.compile(
    r"(?<![\w-])(?:(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}"  # GitHub
    r"|xox[abpsr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[0-9A-Za-z_-]{35})"  # Google
)
_AWS_KEY = re.compile(
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z0-9]{16}(?![A-Za-z0-9])"
)
_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_AUTH_SCHEME = re.compile(r"(?<![\w-])(?:bearer|basic)\s+(?P<value>[A-Za-z0-9._~+/=-]{8,})", re.I)

# Lengths of IBANs per country (ISO 13616 registry), used to cut the match and reject look-alikes.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30,
    "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip
# Card-network prefixes (IIN ranges) for the lengths they issue; other digit runs are not cards.
_CARD_PREFIX = re.compile(
    r"^(?:4\d{12}(?:\d{3}){0,2}|5[1-5]\d{14}|2(?:2[2-9]|[3-6]\d|7[01]|720)\d{12}|3[47]\d{13}"
    r"|3(?:0[0-5]|[689]\d)\d{11,16}|6(?:011|5\d\d|4[4-9]\d)\d{12,15}|35\d{14,17}|62\d{14,17})$"
)


def luhn_is_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum of payment cards.

    >>> luhn_is_valid("4111111111111111"), luhn_is_valid("4111111111111112")
    (True, False)
    """
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_is_valid(iban: str) -> bool:
    """True when ``iban`` (spaces allowed) has its country's length and a valid mod-97 checksum.

    >>> iban_is_valid("FR76 3000 6000 0112 3456 7890 189"), iban_is_valid("FR76 3000 6000 0112")
    (True, False)
    """
    compact = iban.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def is_sensitive_key(name: str) -> bool:
    """True when a field named ``name`` holds a secret (``password``, ``access_token``, ...).

    >>> is_sensitive_key("db_password"), is_sensitive_key("max_tokens")
    (True, False)
    """
    return _SENSITIVE_KEY.search(name) is not None


@dataclass(frozen=True, order=True)
class Detection:
    """One sensitive span of a text: ``text[start:end]`` is of ``kind``."""

    start: int
    end: int
    kind: str


_Finder = Callable[[str, str], Iterable[Detection]]


def _emails(text: str, lowered: str) -> Iterable[Detection]:
    for match in _EMAIL.finditer(text):
        # ``https://user:pass@host`` holds credentials, not an address: the URL rule masks them.
        if "://" in text and _URL_USER_BEFORE.search(text, 0, match.start()):
            continue
        if match["tld"].lower() not in _NOT_TLDS:
            yield Detection(match.start(), match.end(), "email")


def _digit_count(text: str) -> int:
    return sum(char.isdigit() for char in text)


def _phones(text: str, lowered: str) -> Iterable[Detection]:
    if "+" in text:
        for match in _PHONE_INTERNATIONAL.finditer(text):
            if 8 <= _digit_count(match.group()) <= 15:
                yield Detection(match.start(), match.end(), "phone")
    for match in _PHONE_FRENCH.finditer(text):
        yield Detection(match.start(), match.end(), "phone")


def _cards(text: str, lowered: str) -> Iterable[Detection]:
    for match in _CARD.finditer(text):
        raw = match.group()
        digits = raw.replace(" ", "").replace("-", "")
        # One kind of separator, used between groups, as cards are printed.
        if " " in raw and "-" in raw:
            continue
        if _CARD_PREFIX.match(digits) and luhn_is_valid(digits):
            yield Detection(match.start(), match.end(), "card")


def _ibans(text: str, lowered: str) -> Iterable[Detection]:
    for match in _IBAN.finditer(text):
        length = _IBAN_LENGTHS.get(match["cc"].upper())
        if length is None:
            continue
        # Cut the match at the country's length, counting characters but not single spaces.
        seen = 0
        end = match.start()
        for position in range(match.start(), match.end()):
            if text[position] != " ":
                seen += 1
            if seen == length:
                end = position + 1
                break
        if seen != length or (end < len(text) and text[end].isalnum()):
            continue
        if iban_is_valid(text[match.start() : end]):
            yield Detection(match.start(), end, "iban")


def _keys(text: str, lowered: str) -> Iterable[Detection]:
    if "sk-" in text:
        for match in _OPENAI_KEY.finditer(text):
            yield Detection(match.start(), match.end(), "api_key")
    if any(hint in lowered for hint in _KEY_HINTS):
        for match in _OTHER_KEYS.finditer(text):
            yield Detection(match.start(), match.end(), "api_key")
    if any(hint in lowered for hint in _AWS_HINTS):
        for match in _AWS_KEY.finditer(text):
            yield Detection(match.start(), match.end(), "aws_key")
    if "eyJ" in text:
        for match in _JWT.finditer(text):
            yield Detection(match.start(), match.end(), "jwt")
    if "bearer" not in lowered and "basic" not in lowered:
        return
    for match in _AUTH_SCHEME.finditer(text):
        value = match["value"]
        # "basic information" is prose; credentials mix cases, digits or punctuation.
        if not (value.isalpha() and (value.islower() or value.isupper())):
            yield Detection(match.start("value"), match.end("value"), "bearer")


def _fields(text: str, lowered: str) -> Iterable[Detection]:
    if "://" in text:
        for match in _URL_CREDENTIALS.finditer(text):
            yield Detection(match.start("value"), match.end("value"), "secret")
    if not any(hint in lowered for hint in _KEYWORD_HINTS):
        return
    for match in _JSON_FIELD.finditer(text):
        yield Detection(match.start("value"), match.end("value"), "secret")
    for match in _KEY_VALUE.finditer(text):
        group = "qvalue" if match["qvalue"] is not None else "value"
        value = match[group]
        if value.lower() in {"null", "none", "true", "false", "***", "[redacted]"}:
            continue
        kind = "bearer" if match["scheme"] else "secret"
        yield Detection(match.start(group), match.end(group), kind)


_DIGIT_FINDERS: tuple[_Finder, ...] = (_ibans, _cards, _phones)


def _merge(detections: Iterable[Detection]) -> list[Detection]:
    """Sort detections and fuse overlapping ones (the earliest, then longest, kind wins)."""
    merged: list[Detection] = []
    for detection in sorted(detections, key=lambda d: (d.start, -d.end)):
        if merged and detection.start < merged[-1].end:
            last = merged[-1]
            if detection.end > last.end:
                merged[-1] = Detection(last.start, detection.end, last.kind)
            continue
        merged.append(detection)
    return merged


class Redactor:
    """Find and mask personal data and secrets in text and in structured log fields.

    ``patterns`` adds rules: a mapping of kind to regular expression (the whole match is masked).
    ``allow_fields`` names extra fields left untouched (for example a field known to hold an
    internal id that looks like a phone number). ``enabled=False`` turns redaction off.

    >>> Redactor().redact_fields({"user": "bob@example.org", "api_key": 42, "tokens": 12})
    {'user': '[REDACTED:email]', 'api_key': '[REDACTED:secret]', 'tokens': 12}
    """

    def __init__(
        self,
        *,
        patterns: Mapping[str, str | re.Pattern[str]] | None = None,
        allow_fields: Iterable[str] = (),
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self.allow_fields = frozenset(name.lower() for name in allow_fields)
        self._custom: list[tuple[str, re.Pattern[str]]] = []
        for kind, pattern in (patterns or {}).items():
            if not re.fullmatch(r"[A-Za-z0-9_]+", kind):
                raise ConfigurationError(
                    f"pattern name {kind!r} must be letters, digits or underscores",
                    field="redaction.patterns",
                )
            try:
                compiled = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
            except re.error as error:
                raise ConfigurationError(
                    f"invalid regular expression for {kind!r}: {error}",
                    field="redaction.patterns",
                ) from None
            self._custom.append((kind, compiled))

    def find(self, text: str) -> list[Detection]:
        """Every sensitive span of ``text``, sorted and without overlaps."""
        found: list[Detection] = []
        lowered = text.lower()
        if _HINT.search(lowered) is not None:
            found.extend(_fields(text, lowered))
            found.extend(_keys(text, lowered))
        if "@" in text:
            found.extend(_emails(text, lowered))
        if _NUMBERISH.search(text) is not None:
            for finder in _DIGIT_FINDERS:
                found.extend(finder(text, lowered))
        for kind, pattern in self._custom:
            found.extend(
                Detection(match.start(), match.end(), kind)
                for match in pattern.finditer(text)
                if match.end() > match.start()
            )
        return _merge(found) if found else found

    def redact(self, text: str) -> str:
        """``text`` with each sensitive span replaced by ``[REDACTED:<kind>]``."""
        if not self.enabled or not text:
            return text
        detections = self.find(text)
        if not detections:
            return text
        pieces: list[str] = []
        position = 0
        for detection in detections:
            pieces.append(text[position : detection.start])
            pieces.append(f"[REDACTED:{detection.kind}]")
            position = detection.end
        pieces.append(text[position:])
        return "".join(pieces)

    def redact_value(self, value: Any, key: str | None = None) -> Any:
        """Redact one field value: strings are scanned, containers walked, sensitive keys masked."""
        if not self.enabled:
            return value
        if key is not None:
            lowered = key.lower()
            if lowered in self.allow_fields:
                return value
            if is_sensitive_key(key) and value is not None and not isinstance(value, bool):
                return "[REDACTED:secret]"
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, bool) or value is None or isinstance(value, float):
            return value
        if isinstance(value, int):
            # A card number logged as an int is still a card number.
            if abs(value) >= 10**11:
                text = str(value)
                redacted = self.redact(text)
                return value if redacted == text else redacted
            return value
        if isinstance(value, Mapping):
            return {name: self.redact_value(item, str(name)) for name, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(item) for item in value]
        return self.redact(str(value))

    def redact_fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``fields`` with :meth:`redact_value` applied to each one."""
        return {name: self.redact_value(value, name) for name, value in fields.items()}
