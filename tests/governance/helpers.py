"""Small helpers the governance tests share."""

from decimal import Decimal

from accounts.models import Budget
from accounts.selectors import budget_statuses

HI = [{"role": "user", "content": "Hi"}]


def chat(model: str = "priced", **fields) -> dict:
    return {"model": model, "messages": HI, **fields}


def spent(budget: Budget) -> tuple[int, Decimal]:
    """(tokens, USD) the budget's subject has spent in its current period, per the ledger."""
    (status,) = budget_statuses([budget])
    return status.spent_tokens, status.spent_cost
