"""Prices in the routing table and what a usage costs at them: exact decimals, cached
prompt tokens priced apart, reasoning tokens priced once as output, no price meaning an
unknown cost."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from llmproxy.pricing import cost_of, highest, to_nanos, usd
from llmproxy.providers.datatypes import Usage
from llmproxy.routing import Price, build_table

PRICE = Price(Decimal("2.50"), Decimal("10"), Decimal("1.25"))


def test_cost_is_price_per_million_times_tokens_exactly():
    assert cost_of(PRICE, Usage(1000, 200)) == Decimal("0.0045")
    # 0.1 + 0.2 is not 0.3 in floats; these are decimals all the way.
    tenths = Price(Decimal("0.1"), Decimal("0.2"), Decimal("0.1"))
    assert cost_of(tenths, Usage(10**6, 10**6)) == Decimal("0.3")


def test_cached_prompt_tokens_are_priced_as_cached():
    # (600 × 2.50 + 400 × 1.25 + 200 × 10) / 10⁶
    assert cost_of(PRICE, Usage(1000, 200, cached_tokens=400)) == Decimal("0.004")
    # An upstream that does not say (None) served nothing from its cache.
    assert cost_of(PRICE, Usage(1000, 200, cached_tokens=None)) == Decimal("0.0045")


def test_reasoning_tokens_are_output_tokens_counted_once():
    # Reasoning tokens are part of completion_tokens (OpenAI's usage, the Gemini
    # translation): 200 completion tokens of which 150 reasoning cost 200 × 10, not 350 × 10.
    assert cost_of(PRICE, Usage(1000, 200, reasoning_tokens=150)) == Decimal("0.0045")


def test_no_price_means_an_unknown_cost_not_zero():
    assert cost_of(None, Usage(1000, 200)) is None


def test_the_worst_case_takes_each_routes_highest_price():
    cheap = Price(Decimal("1"), Decimal("20"), Decimal("3"))
    worst = highest([PRICE, cheap])
    assert (worst.input, worst.output, worst.cached_input) == (3, 20, 3)
    assert highest([PRICE, None]) is None


def test_budgets_count_whole_nano_dollars_rounded_up():
    assert to_nanos(Decimal("0.0045")) == 4_500_000
    assert to_nanos(Decimal("0.0000000001")) == 1
    assert usd(Decimal("0.0045000")) == "0.0045" and usd(Decimal("12")) == "12"


def table(price) -> dict:
    route = {"provider": "openai", "base_url": "http://127.0.0.1:9/v1", "price": price}
    return {**LLM_BASE, "ROUTES": {"routes": {"gemini": route}}}


LLM_BASE = {
    "DEFAULT_MODEL": "gemini",
    "ROUTES_FILE": "",
    "SECRETS": {},
    **{key: "" for key in ("API_ENDPOINT", "SURL", "COIN_URL", "CLIENT_ID", "CLIENT_SECRET")},
    **{"TIMEOUT": 1.0, "CONNECT_TIMEOUT": 1.0, "RETRIES": 0, "BACKOFF": 0.0},
}


def test_a_routes_price_is_read_as_decimals():
    routes = build_table(table({"input": 0.15, "output": "0.60"})).routes
    assert routes["gemini"].price == Price(Decimal("0.15"), Decimal("0.60"), Decimal("0.15"))


def test_without_a_cached_price_a_cached_token_costs_what_any_prompt_token_does():
    plain = build_table(table({"input": "2.50", "output": "10"})).routes["gemini"].price
    assert cost_of(plain, Usage(1000, 200, cached_tokens=400)) == Decimal("0.0045")


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ({"input": 1}, "price.output: This field is required"),
        ({"input": 1, "output": 2, "cache": 1}, "price.cache: Unknown field. Known fields: input,"),
        ({"input": -1, "output": 2}, "price.input: Ensure this value is greater than or equal"),
        ({"input": "cheap", "output": 2}, "price.input: A valid number is required"),
        ({"input": True, "output": 2}, "price.input: A valid number is required"),
        ("1.5", "price: Invalid data. Expected a dictionary"),
    ],
)
def test_a_bad_price_names_the_route_and_what_is_wrong(price, message):
    with pytest.raises(ImproperlyConfigured, match=f"LLM route 'gemini': {message}"):
        build_table(table(price))
