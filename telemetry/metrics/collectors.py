"""Figures read when Prometheus scrapes, not recorded as they happen: the budgets.

Budgets and their spend live in the database and the ledger every worker shares, so
whichever worker answers the scrape reads them, once per scrape (one query, one ledger
read), and no request pays anything for them.

One series per budget and limit: as many as administrators set budgets, whatever the
traffic. Labels: `budget_id` (the id of the admin API, the command and the admin site),
`scope` (soeid, project, default_soeid), `period` (day, week, month) and `subject`: the
project of a project budget; a SOEID only with METRICS_SOEID_LABEL=true (empty otherwise:
find it by the id). A default_soeid budget has limits but no spend of its own (each SOEID
counts on its own counter).
"""

import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily

from accounts.errors import BudgetUnavailable
from accounts.models import Budget
from accounts.selectors import BudgetStatus, budget_statuses

logger = logging.getLogger(__name__)

LABELS = ["budget_id", "scope", "subject", "period"]


class BudgetCollector:
    """Each budget's limits and what was spent in its current period."""

    def describe(self) -> list:
        return []  # nothing read when registered: only when scraped

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {
            "limit_tokens": "Tokens a budget allows per period.",
            "spent_tokens": "Tokens spent in a budget's current period.",
            "limit_usd": "USD a budget allows per period.",
            "spent_usd": "USD spent in a budget's current period.",
        }
        families = {
            name: GaugeMetricFamily(f"dgen_ping_budget_{name}", text, labels=LABELS)
            for name, text in families.items()
        }
        try:
            statuses = budget_statuses(Budget.objects.all())
        except (BudgetUnavailable, DatabaseError) as exc:
            logger.warning("Budget metrics left out of this scrape: %s", exc)
            statuses = []
        for status in statuses:
            labels = _labels(status.budget)
            for name, value in _values(status).items():
                if value is not None:
                    families[name].add_metric(labels, float(value))
        yield from families.values()


def _labels(budget: Budget) -> list[str]:
    subject = budget.subject
    if budget.scope == Budget.Scope.SOEID and not settings.METRICS["SOEID_LABEL"]:
        subject = ""
    return [str(budget.pk), budget.scope, subject, budget.period]


def _values(status: BudgetStatus) -> dict:
    budget = status.budget
    return {
        "limit_tokens": budget.token_limit,
        "spent_tokens": status.spent_tokens,
        "limit_usd": budget.cost_limit,
        "spent_usd": status.spent_cost,
    }
