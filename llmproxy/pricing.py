"""What an LLM call costs: its route's price × the upstream's usage, in exact decimals.

A route's `price` is USD per million tokens: `input`, `output`, and `cached_input` for the
prompt tokens the upstream served from its cache (priced as `input` when not given, as
providers do without a cache discount). Reasoning tokens are part of the completion tokens
and priced as output. No price means the cost is unknown: None, never a guess.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

PER_TOKENS = Decimal(1_000_000)
# Budgets count money in integer nano-dollars, the same on every ledger.
NANOS_PER_USD = Decimal(1_000_000_000)
PRICE_KEYS = ("input", "output", "cached_input")


@dataclass(frozen=True)
class Price:
    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None

    @property
    def cached(self) -> Decimal:
        return self.input if self.cached_input is None else self.cached_input

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> Decimal:
        """USD for these token counts (`cached_tokens` are part of `prompt_tokens`)."""
        cached = min(max(cached_tokens, 0), prompt_tokens)
        fresh = prompt_tokens - cached
        total = fresh * self.input + cached * self.cached + completion_tokens * self.output
        return total / PER_TOKENS


def cost_of(price: Price | None, usage) -> Decimal | None:
    """What `usage` (llmproxy.providers.base.Usage) cost at `price`; None without a price."""
    if price is None or usage is None:
        return None
    cached = getattr(usage, "cached_tokens", 0) or 0
    return price.cost(usage.prompt_tokens, usage.completion_tokens, cached)


def highest(prices: Iterable[Price | None]) -> Price | None:
    """The highest a prompt token and a completion token can cost over `prices` (a route
    and its fallbacks): what the worst case of a call is priced at. None when any of them
    has no price."""
    prices = list(prices)
    if not prices or any(price is None for price in prices):
        return None
    return Price(
        input=max(max(price.input, price.cached) for price in prices),
        output=max(price.output for price in prices),
    )


def to_nanos(cost: Decimal) -> int:
    """USD as whole nano-dollars, rounded up: a budget never counts less than was spent."""
    return math.ceil(cost * NANOS_PER_USD)


def usd(cost: Decimal) -> str:
    """A cost as plain decimal text, no exponent and no trailing zeros: '0.0001851'."""
    return f"{cost.normalize():f}"


def parse_price(value) -> Price | None:
    """A routes file's `price` mapping; ValueError says what is wrong."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - set(PRICE_KEYS):
        raise ValueError(
            f"price must be a mapping of {', '.join(PRICE_KEYS)} (USD per million tokens)."
        )
    missing = [key for key in ("input", "output") if value.get(key) is None]
    if missing:
        raise ValueError(f"price needs {' and '.join(missing)} (USD per million tokens).")
    parts = {key: _amount(key, value[key]) for key in PRICE_KEYS if value.get(key) is not None}
    return Price(**parts)


def _amount(key: str, raw) -> Decimal:
    # str() first: a YAML/JSON float such as 0.15 becomes Decimal("0.15"), not its binary value.
    try:
        amount = Decimal(str(raw)) if not isinstance(raw, bool) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise ValueError(f"price {key} must be a number >= 0 (USD per million tokens): {raw!r}.")
    return amount
