"""LLM cost: provider usage normalized, then priced with genai-prices, checked by hand."""

from __future__ import annotations

import math

import pytest
from genai_prices import Usage, calc_price

from vigie.exceptions import ConfigurationError
from vigie.sdk.cost import (
    Price,
    PriceBook,
    TokenUsage,
    anthropic_usage,
    default_price_book,
    openai_usage,
    set_default_price_book,
)

# (provider, model, usage as the provider reports it, expected USD computed by hand from the
# published per-million prices; the comment shows the arithmetic).
CASES = [
    # gpt-4o $2.5 in / $1.25 cached / $10 out: 1000*2.5 + 100*10
    ("openai", "gpt-4o", openai_usage(1000, 100), 0.0035),
    # 500 uncached*2.5 + 500 cached*1.25 + 100*10
    ("openai", "gpt-4o", openai_usage(1000, 100, cached_tokens=500), 0.002875),
    # gpt-4o-mini $0.15 / $0.075 / $0.6: 976*0.15 + 1024*0.075 + 300*0.6
    ("openai", "gpt-4o-mini", openai_usage(2000, 300, cached_tokens=1024), 0.0004032),
    # o3-mini $1.1 / $4.4, reasoning billed as output: 500*1.1 + 2000*4.4
    ("openai", "o3-mini", openai_usage(500, 2000, reasoning_tokens=1500), 0.00935),
    # o1 $15 / $7.5 / $60: 176*15 + 1024*7.5 + 5000*60
    ("openai", "o1", openai_usage(1200, 5000, cached_tokens=1024, reasoning_tokens=4000), 0.31032),
    # gpt-4.1 $2 / $0.5 / $8: 2000*2 + 8000*0.5 + 500*8
    ("openai", "gpt-4.1", openai_usage(10000, 500, cached_tokens=8000), 0.012),
    # gpt-5 $1.25 / $0.125 / $10: 1000*1.25 + 2000*0.125 + 1000*10
    ("openai", "gpt-5", openai_usage(3000, 1000, cached_tokens=2000, reasoning_tokens=800), 0.0115),
    # gpt-5-mini $0.25 / $2: 100000*0.25 + 10000*2
    ("openai", "gpt-5-mini", openai_usage(100_000, 10_000), 0.045),
    # text-embedding-3-small $0.02 per million input tokens
    ("openai", "text-embedding-3-small", openai_usage(1_000_000), 0.02),
    # claude-3-5-sonnet $3 / $0.3 read / $3.75 write / $15: 100*3 + 1000*0.3 + 200*3.75 + 50*15
    (
        "anthropic",
        "claude-3-5-sonnet-20241022",
        anthropic_usage(100, 50, cache_read_input_tokens=1000, cache_creation_input_tokens=200),
        0.0021,
    ),
    # claude-sonnet-4 with a 1-hour cache write at $6: 100*3 + 1000*0.3 + 150*3.75 + 50*6 + 50*15
    (
        "anthropic",
        "claude-sonnet-4-20250514",
        anthropic_usage(100, 50, 1000, 200, ephemeral_1h_input_tokens=50),
        0.0022125,
    ),
    # claude-3-5-haiku $0.8 / $4: 2000*0.8 + 500*4
    ("anthropic", "claude-3-5-haiku-20241022", anthropic_usage(2000, 500), 0.0036),
    # claude-3-5-haiku 5-minute cache write $1: 4000*1 + 100*4
    (
        "anthropic",
        "claude-3-5-haiku-20241022",
        anthropic_usage(0, 100, cache_creation_input_tokens=4000),
        0.0044,
    ),
    # claude-opus-4-1 $15 / $1.5 read / $75: 10*15 + 50000*1.5 + 1000*75
    ("anthropic", "claude-opus-4-1", anthropic_usage(10, 1000, 50_000), 0.15015),
    # claude-opus-4-1 1-hour write $30: 5*15 + 20000*30 + 200*75
    ("anthropic", "claude-opus-4-1", anthropic_usage(5, 200, 0, 20_000, 20_000), 0.615075),
    # gemini-2.5-pro tiered above 200k input: 200000*2.5 + 100000*0.25 + 1000*15
    ("gcp.gemini", "gemini-2.5-pro", TokenUsage(300_000, 1000, 100_000), 0.54),
]


@pytest.mark.parametrize(("provider", "model", "usage", "expected"), CASES)
def test_cost_matches_hand_computed_price(
    provider: str, model: str, usage: TokenUsage, expected: float
) -> None:
    """Each case costs exactly what the provider's price list says."""
    book = PriceBook(second_currency="EUR", exchange_rate=0.5)
    assert book.cost_usd(provider, model, usage) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("provider", "model", "usage", "expected"), CASES)
def test_fast_path_agrees_with_genai_prices(
    provider: str, model: str, usage: TokenUsage, expected: float
) -> None:
    """The cached fast path computes what genai_prices.calc_price computes."""
    provider_id = {"gcp.gemini": "google"}.get(provider, provider)
    reference = calc_price(
        Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
        ),
        model,
        provider_id=provider_id,
    )
    assert float(reference.total_price) == pytest.approx(expected, rel=1e-12)


def test_anthropic_usage_adds_cached_parts_to_input() -> None:
    """Anthropic's input_tokens excludes cache reads and writes; the total includes them."""
    usage = anthropic_usage(100, 50, cache_read_input_tokens=1000, cache_creation_input_tokens=200)
    assert usage == TokenUsage(1300, 50, 1000, 200, 0, 0)


def test_unknown_model_is_unpriced_not_zero() -> None:
    """A model genai-prices does not know costs None, never 0."""
    book = PriceBook(second_currency="EUR", exchange_rate=0.9)
    assert book.cost_usd("openai", "my-finetune-xyz", TokenUsage(10, 10)) is None
    assert book.cost_usd("ollama", "llama3", TokenUsage(10, 10)) is None


def test_user_price_for_custom_model() -> None:
    """A user-supplied price costs a self-hosted model, for one provider or for all."""
    book = PriceBook(second_currency="EUR", exchange_rate=0.9)
    book.set_price("llama3", Price(input=0.2, output=0.4, cache_read=0.1), provider="ollama")
    usage = TokenUsage(1_000_000, 500_000, cache_read_tokens=400_000)
    # 600000*0.2 + 400000*0.1 + 500000*0.4
    assert book.cost_usd("ollama", "llama3", usage) == pytest.approx(0.36)
    assert book.cost_usd("vllm", "llama3", usage) is None
    book.set_price("free-model", Price(0, 0))
    assert book.cost_usd("vllm", "free-model", usage) == 0.0


def test_user_price_overrides_genai_prices() -> None:
    """A negotiated price wins over the public one."""
    book = PriceBook(second_currency="EUR", exchange_rate=0.9, prices={"gpt-4o": Price(1, 2)})
    assert book.cost_usd("openai", "gpt-4o", TokenUsage(1_000_000, 1_000_000)) == 3.0


def test_second_currency_conversion() -> None:
    """The second currency is USD times the configured rate."""
    book = PriceBook(second_currency="chf", exchange_rate=0.8)
    assert book.second_currency == "CHF"
    assert book.to_second_currency(2.5) == 2.0


def test_currency_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """VIGIE_COST_CURRENCY and VIGIE_COST_EXCHANGE_RATE configure the default book."""
    monkeypatch.setenv("VIGIE_COST_CURRENCY", "GBP")
    monkeypatch.setenv("VIGIE_COST_EXCHANGE_RATE", "0.75")
    book = PriceBook()
    assert (book.second_currency, book.exchange_rate) == ("GBP", 0.75)


def test_default_currency_is_eur(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without configuration the second currency is EUR at the shipped rate."""
    monkeypatch.delenv("VIGIE_COST_CURRENCY", raising=False)
    monkeypatch.delenv("VIGIE_COST_EXCHANGE_RATE", raising=False)
    book = PriceBook()
    assert (book.second_currency, book.exchange_rate) == ("EUR", 0.86)


@pytest.mark.parametrize("rate", ["0", "-1", "abc", "inf"])
def test_bad_exchange_rate_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, rate: str
) -> None:
    """A bad rate fails at once, naming the variable."""
    monkeypatch.setenv("VIGIE_COST_EXCHANGE_RATE", rate)
    with pytest.raises(ConfigurationError, match="VIGIE_COST_EXCHANGE_RATE"):
        PriceBook(second_currency="EUR")


def test_bad_currency_and_price_are_configuration_errors() -> None:
    """A currency that is not an ISO code, or a negative price, is refused with the field name."""
    with pytest.raises(ConfigurationError, match="second_currency"):
        PriceBook(second_currency="euros", exchange_rate=1)
    with pytest.raises(ConfigurationError, match="output"):
        Price(input=1, output=-2)
    with pytest.raises(ConfigurationError, match="input"):
        Price(input=math.nan, output=1)


def test_inconsistent_usage_is_refused() -> None:
    """Cached tokens above the input total raise ValueError rather than a negative cost."""
    book = PriceBook(second_currency="EUR", exchange_rate=1)
    with pytest.raises(ValueError, match="cached parts exceed"):
        book.cost_usd("openai", "gpt-4o", TokenUsage(10, 0, cache_read_tokens=20))
    with pytest.raises(ValueError, match="reasoning exceeds"):
        book.cost_usd("openai", "gpt-4o", TokenUsage(10, 5, reasoning_tokens=20))


def test_default_price_book_can_be_replaced() -> None:
    """set_default_price_book swaps the process-wide book."""
    original = default_price_book()
    replacement = PriceBook(second_currency="JPY", exchange_rate=150)
    try:
        set_default_price_book(replacement)
        assert default_price_book() is replacement
    finally:
        set_default_price_book(original)
