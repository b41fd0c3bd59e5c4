"""Budgets as a call meets them: which ones bind it, reserving its worst case before the
upstream call, and settling to what it used afterwards.

Amounts are tokens (prompt + completion) and nano-dollars (USD × 10⁹, integers on every
ledger). Whose budgets: the SOEID's own for each period (else the default per-SOEID budget
of that period, counted on the SOEID's own counter), and the project's.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import DatabaseError, router

from accounts import rawsql
from accounts.errors import WORST_CASE, BudgetExceeded, BudgetUnavailable, UnpricedModel
from accounts.ledger import get_ledger
from accounts.ledger.base import Entry, LedgerUnavailable
from accounts.models import Budget
from accounts.periods import LONGEST_FIRST, now, seconds_until, window
from dgen_ping_site.clock import iso_utc

logger = logging.getLogger(__name__)
NANOS_PER_USD = 10**9
# Every budget a call charged to (SOEID, project) can meet; Budget's table, written out as
# it runs on every LLM call (accounts.rawsql says why).
BUDGETS_QUERY = (
    "SELECT scope, subject, period, token_limit, cost_limit FROM accounts_budget "
    "WHERE (scope = 'soeid' AND subject = %s) OR (scope = 'project' AND subject = %s) "
    "OR scope = 'default_soeid'"
)


@dataclass(frozen=True)
class Rule:
    """One budget as it binds a call: whose counter, which period, which limits."""

    scope: str  # "soeid" or "project": the counter it is checked against
    subject: str
    period: str
    token_limit: int | None
    nanos_limit: int | None
    is_default: bool = False

    def entry(self, tokens: int, nanos: int, moment: datetime) -> Entry:
        start, end = window(self.period, moment)
        return Entry(
            counter=counter_name(self.scope, self.subject, self.period, start),
            tokens=tokens,
            nanos=nanos,
            window_end=end,
            token_limit=self.token_limit,
            nanos_limit=self.nanos_limit,
        )

    def describe(self) -> str:
        if self.is_default:
            return f"the default {self.period} budget per SOEID (for {self.subject!r})"
        return f"the {self.period} budget of {self.scope.upper()} {self.subject!r}"


def counter_name(scope: str, subject: str, period: str, start: datetime) -> str:
    return f"{period}:{start.date().isoformat()}:{scope}:{subject}"


def rules_for(*, soeid: str, project: str) -> list[Rule]:
    """The budgets that bind a call charged to `soeid` and `project`, longest period first
    (a fixed order, which the database ledger's locking relies on)."""
    with rawsql.cursor(router.db_for_read(Budget)) as cursor:
        rows = cursor.execute(BUDGETS_QUERY, [soeid, project]).fetchall()
    own = {period for scope, _, period, _, _ in rows if scope == "soeid"}
    rules = []
    for scope, subject, period, token_limit, cost_limit in rows:
        is_default = scope == "default_soeid"
        if is_default and period in own:
            continue  # the SOEID's own budget of that period wins
        counter_scope = "soeid" if is_default else scope
        rules.append(
            Rule(
                scope=counter_scope,
                subject=soeid if is_default else subject,
                period=period,
                token_limit=token_limit,
                nanos_limit=None if cost_limit is None else usd_to_nanos(cost_limit),
                is_default=is_default,
            )
        )
    return sorted(rules, key=lambda rule: (LONGEST_FIRST[rule.period], rule.scope))


def usd_to_nanos(amount) -> int:
    # str(): SQLite may hand a decimal column back as a float.
    return int(Decimal(str(amount)) * NANOS_PER_USD)


@dataclass
class Reservation:
    """A call's worst case (`tokens`, `nanos`), held on its budgets' counters until the call
    settles."""

    counters: list[str] = field(default_factory=list)
    tokens: int = 0
    nanos: int = 0
    settled: bool = False

    def settle(self, *, tokens: int, nanos: int) -> None:
        """Replace the worst case by what the call used (0 and 0: it used nothing). Once."""
        if self.settled or not self.counters:
            return
        self.settled = True
        if (tokens, nanos) == (self.tokens, self.nanos):
            return
        try:
            get_ledger().adjust(self.counters, tokens - self.tokens, nanos - self.nanos)
        except LedgerUnavailable as exc:
            # The worst case stays counted: budgets err towards refusing, never overspending.
            logger.warning("Budget spend not settled (ledger unavailable: %s)", exc)


def reserve(*, soeid: str, project: str, tokens: int, nanos: int | None) -> Reservation:
    """Hold a call's worst case (`nanos` None: the model has no price) on every budget that
    binds it; BudgetExceeded (429) when one has not that much left, UnpricedModel (403)
    when a cost limit binds an unpriced model, BudgetUnavailable (503) when the ledger
    cannot be reached."""
    try:
        rules = rules_for(soeid=soeid, project=project)
    except DatabaseError as exc:
        raise BudgetUnavailable() from exc
    if not rules:
        return Reservation()
    if nanos is None and any(rule.nanos_limit is not None for rule in rules):
        raise UnpricedModel()
    moment = now()
    entries = [rule.entry(tokens, nanos or 0, moment) for rule in rules]
    try:
        refused = get_ledger().reserve(entries)
    except LedgerUnavailable as exc:
        logger.warning("Budgets not checked, call refused (ledger unavailable: %s)", exc)
        raise BudgetUnavailable() from exc
    if refused is not None:
        raise _exceeded(rules[refused], entries[refused], moment)
    return Reservation([entry.counter for entry in entries], tokens, nanos or 0)


def _exceeded(rule: Rule, entry: Entry, moment: datetime) -> BudgetExceeded:
    limits = []
    if rule.token_limit is not None:
        limits.append(f"{rule.token_limit} tokens")
    if rule.nanos_limit is not None:
        limits.append(f"{Decimal(rule.nanos_limit) / NANOS_PER_USD:f} USD")
    worst = f"{entry.tokens} tokens"
    if entry.nanos:
        worst += f" / {Decimal(entry.nanos) / NANOS_PER_USD:f} USD"
    detail = (
        f"Budget exceeded: this call may use up to {worst} ({WORST_CASE}), more than is left "
        f"of {rule.describe()} ({' and '.join(limits)} a {rule.period}). It resets at "
        f"{iso_utc(entry.window_end)}; a smaller max_tokens may fit before then."
    )
    return BudgetExceeded(detail, wait=seconds_until(entry.window_end, moment))
