"""Reads over the token registry and the budgets, as the admin API, commands and admin show them."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Q, QuerySet

from accounts.budgets import NANOS_PER_USD, counter_name
from accounts.errors import BudgetUnavailable
from accounts.ledger import get_ledger
from accounts.ledger.base import LedgerUnavailable
from accounts.models import Budget, TokenRecord
from accounts.periods import now, window
from dgen_ping_site.clock import utcnow

TOKEN_STATUSES = ("active", "expired", "revoked")


def token_status(record: TokenRecord) -> str:
    if record.revoked_at is not None:
        return "revoked"
    if record.expires_at is not None and record.expires_at <= utcnow():
        return "expired"
    return "active"


def registered_tokens(
    *, soeid: str | None = None, project: str | None = None, status: str | None = None
) -> QuerySet[TokenRecord]:
    """Registry rows, newest first, filtered by SOEID, project and status (None: any)."""
    rows = TokenRecord.objects.all()
    if soeid is not None:
        rows = rows.filter(soeid=soeid)
    if project is not None:
        rows = rows.filter(project_id=project)
    if status is not None:
        rows = rows.filter(status_condition(status))
    return rows.order_by(F("issued_at").desc(nulls_last=True), "jti")


def status_condition(status: str) -> Q:
    """The rows in this state (one of TOKEN_STATUSES), as token_status tells them."""
    now = utcnow()
    if status == "revoked":
        return Q(revoked_at__isnull=False)
    if status == "expired":
        return Q(revoked_at__isnull=True, expires_at__lte=now)
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


@dataclass(frozen=True)
class BudgetStatus:
    """A budget and what its subject spent in the current period (None for default_soeid,
    which counts each SOEID apart), as of `moment`."""

    budget: Budget
    window_start: datetime
    window_end: datetime
    spent_tokens: int | None
    spent_cost: Decimal | None


def budget_statuses(budgets: Iterable[Budget]) -> list[BudgetStatus]:
    """Each budget with its current period's spend, read from the ledger in one go."""
    moment = now()
    rows = []
    for budget in budgets:
        start, end = window(budget.period, moment)
        counter = None
        if budget.scope != Budget.Scope.DEFAULT_SOEID:
            counter = counter_name(budget.scope, budget.subject, budget.period, start)
        rows.append((budget, start, end, counter))
    try:
        totals = get_ledger().totals([counter for *_, counter in rows if counter])
    except LedgerUnavailable as exc:
        raise BudgetUnavailable() from exc
    statuses = []
    for budget, start, end, counter in rows:
        tokens, nanos = totals[counter] if counter else (None, None)
        cost = None if nanos is None else Decimal(nanos) / NANOS_PER_USD
        statuses.append(BudgetStatus(budget, start, end, tokens, cost))
    return statuses
