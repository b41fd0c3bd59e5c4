"""Prices in the routing table and what a usage costs at them: exact decimals, cached
prompt tokens priced apart, no price meaning an unknown cost."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from llmproxy.pricing import Price, cost_of, highest, to_nanos, usd
from llmproxy.providers.base import Usage
from llmproxy.routing import build_table

PRICE = Price(Decimal("2.50"), Decimal("10"), Decimal("1.25"))


def test_cost_is_price_per_million_times_tokens_exactly():
    assert cost_of(PRICE, Usage(1000, 200)) == Decimal("0.0045")
    # 0.1 + 0.2 is not 0.3 in floats; these are decimals all the way.
    assert cost_of(Price(Decimal("0.1"), Decimal("0.2")), Usage(10**6, 10**6)) == Decimal("0.3")


def test_cached_prompt_tokens_are_priced_as_cached():
    assert cost_of(PRICE, Usage(1000, 200, cached_tokens=400)) == Decimal("0.004")
    # Without a cached price, a cached token costs what any prompt token does.
    plain = Price(Decimal("2.50"), Decimal("10"))
    assert cost_of(plain, Usage(1000, 200, cached_tokens=400)) == Decimal("0.0045")


def test_no_price_means_an_unknown_cost_not_zero():
    assert cost_of(None, Usage(1000, 200)) is None


def test_the_worst_case_takes_each_routes_highest_price():
    cheap = Price(Decimal("1"), Decimal("20"), Decimal("3"))
    worst = highest([PRICE, cheap])
    assert (worst.input, worst.output) == (Decimal("3"), Decimal("20"))
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
    assert routes["gemini"].price == Price(Decimal("0.15"), Decimal("0.60"))


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ({"input": 1}, "price needs output"),
        ({"input": 1, "output": 2, "cache": 1}, "price must be a mapping of input, output"),
        ({"input": -1, "output": 2}, "price input must be a number >= 0"),
        ({"input": "cheap", "output": 2}, "price input must be a number >= 0"),
        ({"input": True, "output": 2}, "price input must be a number >= 0"),
        ("1.5", "price must be a mapping"),
    ],
)
def test_a_bad_price_names_the_route_and_what_is_wrong(price, message):
    with pytest.raises(ImproperlyConfigured, match=f"LLM route 'gemini': {message}"):
        build_table(table(price))
