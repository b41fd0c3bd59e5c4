"""What an LLM call costs: its route's price × the upstream's usage, in exact decimals.

A route's `price` (llmproxy.routing.Price, read from the routes file by
llmproxy.route_serializers) is USD per million tokens: `input`, `output`, and `cached_input`
for the prompt tokens the upstream served from its cache (the routes file's default is
`input`, as providers charge without a cache discount). Reasoning tokens are part of the
completion tokens (OpenAI's `completion_tokens` and the gateway's Gemini translation both
count them there) and are priced as output, once. No price means the cost is unknown: None,
never a guess.
"""

import math
from collections.abc import Iterable
from decimal import Decimal

from llmproxy.providers.datatypes import Usage
from llmproxy.routing import Price

PER_TOKENS = Decimal(1_000_000)
# Budgets count money in integer nano-dollars, the same on every ledger.
NANOS_PER_USD = Decimal(1_000_000_000)


def cost_of(price: Price | None, usage: Usage | None) -> Decimal | None:
    """What `usage` cost at `price`; None without a price (or a usage)."""
    if price is None or usage is None:
        return None
    cached = min(max(usage.cached_tokens or 0, 0), usage.prompt_tokens)
    fresh = usage.prompt_tokens - cached
    total = fresh * price.input + cached * price.cached_input
    return (total + usage.completion_tokens * price.output) / PER_TOKENS


def highest(prices: Iterable[Price | None]) -> Price | None:
    """The highest a prompt token and a completion token can cost over `prices` (a route
    and its fallbacks): what the worst case of a call is priced at. None when any of them
    has no price."""
    prices = list(prices)
    if not prices or any(price is None for price in prices):
        return None
    prompt = max(max(price.input, price.cached_input) for price in prices)
    return Price(input=prompt, output=max(price.output for price in prices), cached_input=prompt)


def to_nanos(cost: Decimal) -> int:
    """USD as whole nano-dollars, rounded up: a budget never counts less than was spent."""
    return math.ceil(cost * NANOS_PER_USD)


def usd(cost: Decimal) -> str:
    """A cost as plain decimal text, no exponent and no trailing zeros: '0.0001851'."""
    return f"{cost.normalize():f}"
