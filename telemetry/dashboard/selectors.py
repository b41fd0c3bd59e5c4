"""What the dashboard shows: usage from one UsageReader (so its figures are those of
telemetry_stats and the usage API for the same filters), and budget use from the ledger."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q

from accounts.models import Budget
from accounts.selectors import BudgetStatus, budget_statuses
from telemetry.backends.base import TelemetryBackend
from telemetry.dashboard.forms import Period
from telemetry.query import EventFilter
from telemetry.selectors import UsageReader

TOP = 10  # people and projects in the charts
TABLE_ROWS = 100  # rows of the usage table (the CSV download has every event)
BUDGET_ROWS = 20


@dataclass(frozen=True)
class Usage:
    """Usage rows (telemetry.usage) of the dashboard's filters, grouped for each part."""

    period: Period
    headline: dict | None  # None: no event matches
    by_day_and_model: list[dict]
    by_day: list[dict]
    errors_by_status: list[dict]
    soeids: list[dict]  # largest first
    projects: list[dict]
    table: list[dict]  # per SOEID, project and model, largest first (TABLE_ROWS at most)
    table_total: int  # rows before the cut

    @property
    def models(self) -> list[str]:
        return sorted({row["model"] for row in self.by_day_and_model if row["model"]})


def usage(*, backend: TelemetryBackend, filters: EventFilter, period: Period) -> Usage:
    """Everything the dashboard shows of usage. From the store's rollups (whole days): two
    reads, one per cube (telemetry.rollups), whatever the filters."""
    reader = UsageReader(backend=backend, filters=filters)
    quick = {"percentiles": False}  # parts that show no latency
    table = largest_first(reader.rows(("soeid", "project", "model"), **quick))
    return Usage(
        period=period,
        headline=next(iter(reader.rows(())), None),
        by_day_and_model=reader.rows(("day", "model"), **quick),
        by_day=reader.rows(("day",)),
        errors_by_status=[row for row in reader.rows(("status",), **quick) if row["errors"]],
        soeids=largest_first(reader.rows(("soeid",), **quick)),
        projects=largest_first(reader.rows(("project",), **quick)),
        table=table[:TABLE_ROWS],
        table_total=len(table),
    )


def largest_first(rows: list[dict]) -> list[dict]:
    """By tokens, then requests (descending); ties keep the rows' order (by group values)."""
    return sorted(rows, key=lambda row: (-row["total_tokens"], -row["requests"]))


@dataclass(frozen=True)
class BudgetUse:
    """A budget's spend in its current period; `default` for the default per-SOEID budget
    as it applies to one SOEID."""

    status: BudgetStatus
    default: bool = False

    @property
    def share(self) -> float:
        """The largest fraction of a limit spent (1.0: all of it)."""
        budget, shares = self.status.budget, [0.0]
        if budget.token_limit:
            shares.append((self.status.spent_tokens or 0) / budget.token_limit)
        if budget.cost_limit:
            shares.append(float(self.status.spent_cost or 0) / float(budget.cost_limit))
        return max(shares)


def budget_use(*, soeids: Sequence[str | None], projects: Sequence[str | None]) -> list[BudgetUse]:
    """The budgets of the SOEIDs and projects in view (largest users first; the one filtered
    on), most used first: their own, and the default per-SOEID budgets as they apply to the
    largest users without one of their own for that period. Raises BudgetUnavailable when
    the ledger cannot be read."""
    soeids, projects = [s for s in soeids if s], [p for p in projects if p]
    own = list(
        Budget.objects.filter(
            Q(scope=Budget.Scope.SOEID, subject__in=soeids)
            | Q(scope=Budget.Scope.PROJECT, subject__in=projects)
        )
    )
    covered = {(b.subject, b.period) for b in own if b.scope == Budget.Scope.SOEID}
    defaults = [
        _as_applied(default, soeid)
        for default in Budget.objects.filter(scope=Budget.Scope.DEFAULT_SOEID)
        for soeid in soeids[:TOP]
        if (soeid, default.period) not in covered
    ]
    statuses = budget_statuses([*own, *defaults])
    uses = [BudgetUse(status, default=status.budget.pk is None) for status in statuses]
    return sorted(uses, key=lambda use: -use.share)[:BUDGET_ROWS]


def _as_applied(default: Budget, soeid: str) -> Budget:
    """The default budget as it binds one SOEID: on that SOEID's own counter
    (accounts.budgets), so an unsaved budget of that SOEID reads its spend."""
    return Budget(
        scope=Budget.Scope.SOEID,
        subject=soeid,
        period=default.period,
        token_limit=default.token_limit,
        cost_limit=default.cost_limit,
    )
