"""What an LLM call cost, in US dollars and a second currency, from the usage the provider returned.

Prices come from the ``genai-prices`` package, which ships them as data: nothing is fetched at
import or at run time. Providers count tokens differently, and getting that wrong is the most
reported accuracy problem of LLM cost tools, so usage is first normalized into one
:class:`TokenUsage` (OpenTelemetry's convention: ``input_tokens`` is the whole prompt, cached or
not; ``output_tokens`` the whole completion, reasoning included):

* OpenAI reports ``prompt_tokens`` *including* ``cached_tokens`` (billed at the cache-read price)
  and ``completion_tokens`` *including* ``reasoning_tokens`` (billed as output);
  see :func:`openai_usage`.
* Anthropic reports ``input_tokens`` *excluding* ``cache_read_input_tokens`` (billed at 0.1x) and
  ``cache_creation_input_tokens`` (billed at 1.25x, or 2x for the 1-hour cache);
  see :func:`anthropic_usage`.

A model with no known price is never costed at zero: :meth:`PriceBook.cost_usd` returns ``None``
and the caller counts it as unpriced. Self-hosted and custom models get a user-supplied
:class:`Price` (``Price(0, 0)`` says "free" explicitly).

Example::

    >>> book = PriceBook(second_currency="EUR", exchange_rate=0.5)
    >>> usage = openai_usage(prompt_tokens=1000, completion_tokens=100, cached_tokens=500)
    >>> round(book.cost_usd("openai", "gpt-4o", usage), 6)   # 500*2.5 + 500*1.25 + 100*10 per 1M
    0.002875
    >>> book.set_price("my-llama", Price(input=0.1, output=0.2))
    >>> round(book.cost_usd("ollama", "my-llama", TokenUsage(1_000_000, 1_000_000)), 6)
    0.3
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vigie.environment_variables import VIGIE_COST_CURRENCY, VIGIE_COST_EXCHANGE_RATE
from vigie.exceptions import ConfigurationError

__all__ = [
    "Price",
    "PriceBook",
    "TokenUsage",
    "anthropic_usage",
    "default_price_book",
    "openai_usage",
    "set_default_price_book",
]

logger = logging.getLogger("vigie")

# OpenTelemetry gen_ai.provider.name -> genai-prices provider id, where they differ.
_PROVIDER_IDS: dict[str, str] = {
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
}
# Token price keys of genai-prices that the fast path understands; a model priced with any other
# token key (audio, image, ...) is costed by genai-prices itself on every call.
_FAST_KEYS = frozenset(
    {
        "input_mtok",
        "output_mtok",
        "cache_read_mtok",
        "cache_write_mtok",
        "cache_write_1h_mtok",
        "output_reasoning_mtok",
    }
)
# Conditional prices (launch dates, off-peak hours) are re-resolved this often.
_RESOLVE_TTL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one call, normalized across providers.

    ``input_tokens`` includes ``cache_read_tokens`` and ``cache_write_tokens``;
    ``cache_write_1h_tokens`` is the part of ``cache_write_tokens`` written to a 1-hour cache;
    ``output_tokens`` includes ``reasoning_tokens``.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0


def openai_usage(
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> TokenUsage:
    """Normalize OpenAI usage (chat ``prompt_tokens`` or Responses ``input_tokens``): kept as is."""
    return TokenUsage(
        input_tokens=prompt_tokens,
        output_tokens=completion_tokens,
        cache_read_tokens=cached_tokens,
        reasoning_tokens=reasoning_tokens,
    )


def anthropic_usage(
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
    ephemeral_1h_input_tokens: int = 0,
) -> TokenUsage:
    """Normalize Anthropic usage, whose ``input_tokens`` excludes cache reads and cache writes."""
    return TokenUsage(
        input_tokens=input_tokens + cache_read_input_tokens + cache_creation_input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_input_tokens,
        cache_write_tokens=cache_creation_input_tokens,
        cache_write_1h_tokens=ephemeral_1h_input_tokens,
    )


@dataclass(frozen=True, slots=True)
class Price:
    """A user-supplied price in US dollars per million tokens.

    A missing cache or reasoning price bills those tokens at the input or output price.
    """

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None
    reasoning: float | None = None

    def __post_init__(self) -> None:
        for field in (
            "input",
            "output",
            "cache_read",
            "cache_write",
            "cache_write_1h",
            "reasoning",
        ):
            value = getattr(self, field)
            if value is not None and not (value >= 0 and value != float("inf")):
                raise ConfigurationError(
                    f"price must be a finite number >= 0, got {value!r}", field=field
                )


# A unit rate: a flat USD-per-million price, or (base, ((threshold, price), ...)) for prices tiered
# by the call's total input tokens, as genai-prices defines them.
_Rate = float | tuple[float, tuple[tuple[int, float], ...]]


def _rate_at(rate: _Rate, total_input: int) -> float:
    if isinstance(rate, float):
        return rate
    base, tiers = rate
    for start, price in reversed(tiers):
        if total_input > start:
            return price
    return base


@dataclass(frozen=True, slots=True)
class _Rates:
    input: _Rate
    output: _Rate
    cache_read: _Rate
    cache_write: _Rate
    cache_write_1h: _Rate
    reasoning: _Rate

    def cost(self, usage: TokenUsage) -> float:
        total = usage.input_tokens
        one_hour = usage.cache_write_1h_tokens
        plain_input = total - usage.cache_read_tokens - usage.cache_write_tokens
        if plain_input < 0 or one_hour > usage.cache_write_tokens:
            raise ValueError(f"inconsistent usage {usage}: cached parts exceed the input total")
        if usage.reasoning_tokens > usage.output_tokens:
            raise ValueError(f"inconsistent usage {usage}: reasoning exceeds the output total")
        micro = (
            plain_input * _rate_at(self.input, total)
            + usage.cache_read_tokens * _rate_at(self.cache_read, total)
            + (usage.cache_write_tokens - one_hour) * _rate_at(self.cache_write, total)
            + one_hour * _rate_at(self.cache_write_1h, total)
            + (usage.output_tokens - usage.reasoning_tokens) * _rate_at(self.output, total)
            + usage.reasoning_tokens * _rate_at(self.reasoning, total)
        )
        return micro / 1_000_000


def _rates_from_price(price: Price) -> _Rates:
    cache_write = price.cache_write if price.cache_write is not None else price.input
    return _Rates(
        input=float(price.input),
        output=float(price.output),
        cache_read=float(price.cache_read if price.cache_read is not None else price.input),
        cache_write=float(cache_write),
        cache_write_1h=float(
            price.cache_write_1h if price.cache_write_1h is not None else cache_write
        ),
        reasoning=float(price.reasoning if price.reasoning is not None else price.output),
    )


def _convert(value: Any) -> _Rate | None:
    """A genai-prices price (Decimal or TieredPrices) as a float rate."""
    if value is None:
        return None
    tiers = getattr(value, "tiers", None)
    if tiers is not None:
        return (float(value.base), tuple((int(tier.start), float(tier.price)) for tier in tiers))
    return float(value)


def _rates_from_model_price(model_price: Any) -> _Rates | None:
    """Fast-path rates for a genai-prices ModelPrice, or None when it prices other units."""
    values = {key: value for key, value in vars(model_price).items() if value is not None}
    if any(key.endswith("_mtok") and key not in _FAST_KEYS for key in values):
        return None
    input_rate = _convert(values.get("input_mtok"))
    output_rate = _convert(values.get("output_mtok"))
    if input_rate is None or output_rate is None:
        return None
    cache_write = _either(_convert(values.get("cache_write_mtok")), input_rate)
    return _Rates(
        input=input_rate,
        output=output_rate,
        cache_read=_either(_convert(values.get("cache_read_mtok")), input_rate),
        cache_write=cache_write,
        cache_write_1h=_either(_convert(values.get("cache_write_1h_mtok")), cache_write),
        reasoning=_either(_convert(values.get("output_reasoning_mtok")), output_rate),
    )


def _either(rate: _Rate | None, fallback: _Rate) -> _Rate:
    """``rate`` unless the model has no such price (a price of 0 is a real, free price)."""
    return fallback if rate is None else rate


class _Unpriced:
    """Marker cached for a (provider, model) that genai-prices does not know."""


_UNPRICED = _Unpriced()


class PriceBook:
    """Looks up prices (user-supplied first, then genai-prices) and converts to a second currency.

    ``exchange_rate`` is how many units of ``second_currency`` one US dollar buys; it is a fixed,
    configured number (``VIGIE_COST_EXCHANGE_RATE``), never fetched.
    """

    def __init__(
        self,
        *,
        second_currency: str | None = None,
        exchange_rate: float | None = None,
        prices: Mapping[str, Price] | None = None,
    ) -> None:
        currency = second_currency or VIGIE_COST_CURRENCY.read() or "EUR"
        if not (len(currency) == 3 and currency.isalpha()):
            raise ConfigurationError(
                f"expected a 3-letter ISO 4217 code, got {currency!r}", field="second_currency"
            )
        rate = exchange_rate if exchange_rate is not None else VIGIE_COST_EXCHANGE_RATE.read_float()
        if rate is None or not (rate > 0 and rate != float("inf")):
            raise ConfigurationError(
                f"expected a positive number, got {rate!r}", field="VIGIE_COST_EXCHANGE_RATE"
            )
        self.second_currency = currency.upper()
        self.exchange_rate = float(rate)
        self._custom: dict[tuple[str | None, str], _Rates] = {}
        self._resolved: dict[tuple[str, str], tuple[_Rates | _Unpriced | None, float]] = {}
        self._lock = threading.Lock()
        for model, price in (prices or {}).items():
            self.set_price(model, price)

    def set_price(self, model: str, price: Price, *, provider: str | None = None) -> None:
        """Price ``model`` (for ``provider`` only, or for any provider) with ``price``."""
        self._custom[(provider, model)] = _rates_from_price(price)

    def cost_usd(self, provider: str, model: str, usage: TokenUsage) -> float | None:
        """Cost of ``usage`` in USD, or None when the model has no known price."""
        rates = self._custom.get((provider, model)) or self._custom.get((None, model))
        if rates is not None:
            return rates.cost(usage)
        key = (provider, model)
        cached = self._resolved.get(key)
        if cached is None or (cached[1] and cached[1] < time.monotonic()):
            cached = self._resolve(provider, model)
            self._resolved[key] = cached
        resolved = cached[0]
        if isinstance(resolved, _Rates):
            return resolved.cost(usage)
        if isinstance(resolved, _Unpriced):
            return None
        return self._library_cost(provider, model, usage)

    def to_second_currency(self, usd: float) -> float:
        """Convert a USD amount with the configured rate."""
        return usd * self.exchange_rate

    def _resolve(self, provider: str, model: str) -> tuple[_Rates | _Unpriced | None, float]:
        """Fast-path rates (None: genai-prices computes each call) and their expiry (0: never)."""
        from genai_prices import data_snapshot

        try:
            _, info = data_snapshot.get_snapshot().find_provider_model(
                model, None, _PROVIDER_IDS.get(provider, provider), None
            )
        except LookupError:
            return _UNPRICED, 0.0
        # Price variants (service tiers) apply only to a request context vigie does not pass, so
        # the base prices are the ones genai-prices itself would use here.
        expiry = time.monotonic() + _RESOLVE_TTL_SECONDS if isinstance(info.prices, list) else 0.0
        from datetime import UTC, datetime

        model_price = info.get_prices(datetime.now(tz=UTC))
        return _rates_from_model_price(model_price), expiry

    def _library_cost(self, provider: str, model: str, usage: TokenUsage) -> float:
        from genai_prices import Usage, calc_price

        priced = calc_price(
            Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                cache_write_1h_tokens=usage.cache_write_1h_tokens,
                output_reasoning_tokens=usage.reasoning_tokens,
            ),
            model,
            provider_id=_PROVIDER_IDS.get(provider, provider),
        )
        return float(priced.total_price)


_default: list[PriceBook] = []
_default_lock = threading.Lock()


def default_price_book() -> PriceBook:
    """The process-wide price book (created on first use from the environment)."""
    if not _default:
        with _default_lock:
            if not _default:
                _default.append(PriceBook())
    return _default[0]


def set_default_price_book(book: PriceBook) -> None:
    """Replace the process-wide price book (to add prices or change the second currency)."""
    with _default_lock:
        _default[:] = [book]
