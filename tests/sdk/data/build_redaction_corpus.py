"""Build redaction_corpus.jsonl: labelled log lines, positives and look-alike negatives.

Each line is ``{"text": ..., "secrets": [{"value": ..., "kind": ...}]}``; a negative has no
secrets. Values are generated (valid Luhn cards, valid IBAN checksums, ...) from a fixed seed, so
running ``python tests/sdk/data/build_redaction_corpus.py`` again gives the same file.
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

OUT = Path(__file__).with_name("redaction_corpus.jsonl")
rng = random.Random(20261121)


def luhn_complete(prefix: str, length: int, valid: bool = True) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for last in string.digits:
        number = body + last
        total = 0
        for index, char in enumerate(reversed(number)):
            value = int(char) * (2 if index % 2 else 1)
            total += value - 9 if value > 9 else value
        if (total % 10 == 0) == valid:
            return number
    raise AssertionError


def group(number: str, sizes: list[int], sep: str) -> str:
    out, position = [], 0
    for size in sizes:
        out.append(number[position : position + size])
        position += size
    return sep.join(part for part in out if part)


def iban(country: str, bban: str, valid: bool = True) -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    if not valid:
        check = (check + rng.randint(1, 50)) % 97 or 3
    return f"{country}{check:02d}{bban}"


def spaced(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def digits(n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def alnum(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


FIRST = ["alice", "bob", "chloe", "david", "emma", "farid", "gael", "hugo", "ines", "jules"]
LAST = ["martin", "bernard", "dubois", "thomas", "robert", "petit", "durand", "leroy", "moreau"]
DOMAINS = ["example.com", "mail.example.org", "exemple.fr", "corp.example.co.uk", "test.io"]


def email() -> str:
    style = rng.randrange(4)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = [
        f"{first}.{last}",
        f"{first}+{rng.choice(['news', 'test', 'x'])}",
        f"{first[0]}{last}",
        f"{first}_{last}{rng.randint(1, 99)}",
    ][style]
    return f"{local}@{rng.choice(DOMAINS)}"


def phone() -> str:
    kind = rng.randrange(8)
    mobile = rng.choice("67") + digits(8)
    pairs = [mobile[i : i + 2] for i in range(1, 9, 2)]
    if kind == 0:
        return "0" + mobile[0] + " " + " ".join(pairs)
    if kind == 1:
        return "0" + mobile[0] + "." + ".".join(pairs)
    if kind == 2:
        return "0" + mobile
    if kind == 3:
        return "+33 " + mobile[0] + " " + " ".join(pairs)
    if kind == 4:
        return "+33" + mobile
    if kind == 5:
        return f"+1 {rng.randint(201, 989)} 555 {digits(4)}"
    if kind == 6:
        return f"+44 20 {digits(4)} {digits(4)}"
    return f"+49 30 {digits(8)}"


def card(valid: bool = True) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        number = luhn_complete("4" + digits(1), 16, valid)
        return group(number, [4, 4, 4, 4], rng.choice([" ", "-", ""]))
    if kind == 1:
        number = luhn_complete(str(rng.randint(51, 55)), 16, valid)
        return group(number, [4, 4, 4, 4], rng.choice([" ", ""]))
    if kind == 2:
        number = luhn_complete(rng.choice(["34", "37"]), 15, valid)
        return group(number, [4, 6, 5], rng.choice([" ", "-", ""]))
    number = luhn_complete("6011", 16, valid)
    return group(number, [4, 4, 4, 4], " ")


BBANS = {
    "FR": lambda: digits(10) + alnum(11, string.ascii_uppercase + string.digits) + digits(2),
    "DE": lambda: digits(18),
    "GB": lambda: alnum(4, string.ascii_uppercase) + digits(14),
    "ES": lambda: digits(20),
    "IT": lambda: rng.choice(string.ascii_uppercase) + digits(22),
    "BE": lambda: digits(12),
    "NL": lambda: alnum(4, string.ascii_uppercase) + digits(10),
}


def an_iban(valid: bool = True) -> str:
    country = rng.choice(sorted(BBANS))
    value = iban(country, BBANS[country](), valid)
    return spaced(value) if rng.random() < 0.5 else value


def openai_key() -> str:
    prefix = rng.choice(["sk-", "sk-proj-", "sk-ant-api03-", "sk-svcacct-"])
    return prefix + alnum(rng.randint(32, 48), string.ascii_letters + string.digits + "_-")


def jwt() -> str:
    header = b64url({"alg": "HS256", "typ": "JWT"})
    payload = b64url({"sub": digits(6), "iat": 1732200000 + rng.randint(0, 9999)})
    return f"{header}.{payload}.{alnum(43, string.ascii_letters + string.digits + '_-')}"


def aws_key() -> str:
    return rng.choice(["AKIA", "ASIA"]) + alnum(16, string.ascii_uppercase + string.digits)


def bearer() -> str:
    return alnum(rng.randint(24, 40), string.ascii_letters + string.digits + "-._")


def password() -> str:
    return alnum(rng.randint(8, 16), string.ascii_letters + string.digits + "!#%*?")


SERVICES = ["checkout", "faq-bot", "rag-api", "billing", "auth", "search", "support-chat"]


def positives() -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []

    def add(text: str, *secrets: tuple[str, str]) -> None:
        lines.append({"text": text, "secrets": [{"value": v, "kind": k} for v, k in secrets]})

    for _ in range(25):
        e = email()
        template = rng.choice(
            [
                "user {} signed in",
                "sending receipt to {}",
                "Contact: {} (via form)",
                "nouvel utilisateur inscrit : {}",
                "password reset requested for <{}>",
                "mailto:{} bounced",
                "prompt: 'please email {} the summary'",
            ]
        )
        add(template.format(e), (e, "email"))
    for _ in range(25):
        p = phone()
        template = rng.choice(
            [
                "callback number {}",
                "SMS sent to {} ok",
                "le client a laissé son numéro {}.",
                "tel={}",
                "user phone: {}, consent=true",
                "Appelez le {} pour confirmer",
            ]
        )
        add(template.format(p), (p, "phone"))
    for _ in range(25):
        c = card()
        template = rng.choice(
            [
                "payment with card {} declined",
                "cc={} exp=12/29",
                "Carte {} refusée",
                "user pasted '{}' into the chat",
                "charge ok card_number {} amount=42.00",
            ]
        )
        add(template.format(c), (c, "card"))
    for _ in range(22):
        i = an_iban()
        template = rng.choice(
            [
                "refund to IBAN {}",
                "virement vers {} effectué",
                "iban={} bic=BNPAFRPP",
                "customer updated bank account: {}.",
                "SEPA mandate for {} created",
            ]
        )
        add(template.format(i), (i, "iban"))
    for _ in range(15):
        k = openai_key()
        template = rng.choice(
            [
                "calling LLM with key {}",
                "OPENAI_API_KEY {} loaded",
                "using {} for anthropic",
                "env dump: LLM_KEY={}",
            ]
        )
        add(template.format(k), (k, "api_key"))
    for _ in range(12):
        j = jwt()
        add(
            rng.choice(["session jwt {}", "id_token received: {}", "cookie value {} set"]).format(
                j
            ),
            (j, "jwt"),
        )
    for _ in range(10):
        a = aws_key()
        add(
            rng.choice(["boto3 using {}", "aws key {} rotated", "AWS_ACCESS_KEY_ID {}"]).format(a),
            (a, "aws_key"),
        )
    for _ in range(12):
        b = bearer()
        add(
            rng.choice(
                [
                    "outgoing request Authorization: Bearer {}",
                    "header bearer {} rejected",
                    "curl -H 'Authorization: Bearer {}' https://api.example.com",
                ]
            ).format(b),
            (b, "bearer"),
        )
    for _ in range(12):
        p = password()
        key = rng.choice(
            [
                "password",
                "db_password",
                "PASSWORD",
                "passwd",
                "pwd",
                "secret",
                "client_secret",
                "access_token",
                "api_key",
                "refresh_token",
            ]
        )
        form = rng.randrange(4)
        if form == 0:
            add(f"connecting with {key}={p} host=db", (p, "secret"))
        elif form == 1:
            add(f'payload {{"user": "u{digits(3)}", "{key}": "{p}"}}', (p, "secret"))
        elif form == 2:
            add(f"config {key}: {p}", (p, "secret"))
        else:
            add(f"GET /callback?code=ok&{key}={p}&state=1", (p, "secret"))
    for _ in range(6):
        p = password()
        add(f"connecting to postgres://app:{p}@db.internal:5432/main", (p, "secret"))
    for _ in range(12):
        e, p, c = email(), phone(), card()
        add(f"order by {e}, phone {p}, paid with {c}", (e, "email"), (p, "phone"), (c, "card"))
    for _ in range(6):
        i, k = an_iban(), openai_key()
        add(f'{{"iban": "{i}", "note": "key {k}"}}', (i, "iban"), (k, "api_key"))
    return lines


def negatives() -> list[dict[str, object]]:
    lines: list[str] = []
    for _ in range(20):
        lines.append(
            rng.choice(
                [
                    "order {} shipped",
                    "invoice number {} paid",
                    "reference commande {}",
                ]
            ).format(card(valid=False))
        )
    for _ in range(15):
        lines.append(
            rng.choice(
                ["checking {} (typo)", "IBAN-like code {} rejected: bad checksum", "ref {}"]
            ).format(an_iban(valid=False))
        )
    for _ in range(12):
        trace = "".join(rng.choice("0123456789abcdef") for _ in range(32))
        span = trace[:16]
        lines.append(f"trace_id={trace} span_id={span} request done")
    for _ in range(8):
        lines.append(
            f"request_id={rng.randbytes(16).hex()[:8]}-{rng.randbytes(2).hex()}-4"
            f"{rng.randbytes(2).hex()[1:]}-a{rng.randbytes(2).hex()[1:]}-"
            f"{rng.randbytes(6).hex()}"
        )
    for _ in range(6):
        lines.append(f"deployed commit {rng.randbytes(20).hex()} sha256:{rng.randbytes(32).hex()}")
    for _ in range(10):
        lines.append(
            f"llm call done input_tokens={rng.randint(10, 9000)} "
            f"output_tokens={rng.randint(1, 900)} max_tokens=1024 token_count=7"
        )
    for _ in range(10):
        lines.append(
            rng.choice(
                [
                    "at {}T10:{}:05.123456Z latency=0.{}s",
                    "le {} à 10h{} durée {} ms",
                    "window {} 00:{}:00 to 23:59:59 count={}",
                ]
            ).format(
                f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                f"{rng.randint(10, 59)}",
                rng.randint(100, 999),
            )
        )
    for _ in range(8):
        lines.append(
            f"epoch={rng.randint(1_700_000_000, 1_800_000_000)} "
            f"ts_ms={rng.randint(1_700_000_000_000, 1_800_000_000_000)}"
        )
    for _ in range(8):
        lines.append(
            f"peer 10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}:"
            f"{rng.randint(1024, 65535)} ipv6 fe80::1ff:fe23:4567:890a"
        )
    for _ in range(8):
        lines.append(
            f"vigie v{rng.randint(0, 3)}.{rng.randint(0, 40)}.{rng.randint(0, 9)} "
            f"python 3.11.{rng.randint(0, 9)} build {rng.randint(10000, 99999)}"
        )
    lines += [
        "loaded sk-learn style pipeline: task-queue-worker-12345678901234567890 ready",
        "risk-assessment-2026 disk-usage-warning-threshold-exceeded-on-node-7",
        "decorator @app.get('/health') registered",
        "image icon@2x.png served",
        "retina asset logo@3x.webp missing",
        "mention @alice in #general",
        "email field empty",
        "basic information updated for account",
        "the bearer of bad news is the validator",
        "Bearer authentication required",
        "Authorization header missing on request",
        "password reset email sent",
        "password_reset_sent=true attempts=1",
        "token bucket refilled: 120 tokens available",
        "tokenizer=cl100k_base vocab=100256",
        "secret rotation scheduled in 7 days",
        "api key missing, falling back to anonymous",
        "growth +12.5% week over week",
        "score +3 points, delta -0.25",
        "+1 vote from reviewer",
        "temperature 0.7 top_p 0.95 seed 1234567",
        "price 1 234,56 EUR TTC",
        "SIRET 73282932000074 registered",
        "ISBN 978-2-07-036822-8 in catalogue",
        "count 0000012345 matched",
        "order id 12345678901 created",
        "ticket ZX-2026-000123 closed",
        "batch 2026/11/21-0001 exported",
        "port list 8080,8081,9090,9464",
        "checksum crc32=0x1f2e3d4c ok",
        "p99 latency 1234567 us",
        "date 06-12-2026 10:30 UTC",
        "rendez-vous le 06/12/2026 à 10:30",
        "le 06.12.2026 facture envoyée",
        "region eu-west-3 az eu-west-3a",
        "model gpt-4o-mini-2024-07-18 selected",
        "embedding dim 1536 index faiss-ivf-4096",
        "matrix 4111 x 1111 loaded",
        "FR is the default locale, DE second",
        "GB-2026 release train",
        "user_count=1500000000000 (aggregated)",
        "https://docs.example.com/guide#section-2 fetched",
        "GET /api/v1/query?query=up&time=1",
        "amqp://rabbit.internal:5672/vhost connected",
        "retry 3/5 after 250ms backoff",
        "keyboard interrupt ignored",
        "monkey patching disabled",
        "passage de paramètres ok",
        "session closed after 300s idle",
        "cookie consent banner shown",
        "signature verification ok",
        "credentials provider: environment",
        "max_tokens exceeded, truncating",
        "pk=42 updated",
        "sk=17 shard key computed",
        "kid=2026-01 jwks refreshed",
        "x-request-id: 0af7651916cd43dd8448eb211c80319c",
        "traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "Phone field optional in schema v2",
        "country code +33 required for FR numbers",
    ]
    return [{"text": text, "secrets": []} for text in lines]


def main() -> None:
    rows = positives() + negatives()
    rng.shuffle(rows)
    with OUT.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} lines to {OUT}")


if __name__ == "__main__":
    main()
