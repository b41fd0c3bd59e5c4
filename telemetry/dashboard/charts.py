"""The dashboard's figures shaped for its charts (Chart.js, static/telemetry/dashboard.js):
labels and series only; the page's tables show the same numbers for people and machines."""

from collections.abc import Callable, Sequence
from urllib.parse import urlencode

from telemetry.dashboard.selectors import TOP, BudgetUse, Usage

NO_VALUE = "(none)"


def chart_data(usage: Usage, budgets: Sequence[BudgetUse] | None, query: dict) -> dict:
    """Every chart's data, as the page embeds it (json_script). `query`: the page's filters,
    which the bars of people and projects keep when they drill down."""
    days = [day.isoformat() for day in usage.period.days]
    return {
        "requests": _by_day_and_model(usage, days, lambda row: row["requests"]),
        "tokens": _by_day_and_model(usage, days, lambda row: row["total_tokens"]),
        "cost": _by_day_and_model(usage, days, lambda row: row["cost"]),
        "latency": _latency(usage, days),
        "errors": {
            "labels": [error_kind(row["status"]) for row in usage.errors_by_status],
            "series": [{"label": "errors", "data": [r["errors"] for r in usage.errors_by_status]}],
        },
        "soeids": _ranking(usage.soeids, "soeid", query),
        "projects": _ranking(usage.projects, "project", query),
        "budgets": _budgets(budgets or []),
    }


def _by_day_and_model(usage: Usage, days: list[str], value: Callable) -> dict:
    models = sorted({row["model"] or NO_VALUE for row in usage.by_day_and_model})
    data = {model: [0] * len(days) for model in models}
    for row in usage.by_day_and_model:
        if row["day"] in days:
            data[row["model"] or NO_VALUE][days.index(row["day"])] = value(row)
    return {"labels": days, "series": [{"label": m, "data": data[m]} for m in models]}


def _latency(usage: Usage, days: list[str]) -> dict:
    by_day = {row["day"]: row for row in usage.by_day}
    series = [
        {"label": label, "data": [by_day.get(day, {}).get(column) for day in days]}
        for label, column in (("p50", "p50_latency_ms"), ("p95", "p95_latency_ms"))
    ]
    return {"labels": days, "series": series}


def _ranking(rows: list[dict], field: str, query: dict) -> dict:
    top = rows[:TOP]
    return {
        "labels": [row[field] or NO_VALUE for row in top],
        "series": [{"label": "tokens", "data": [row["total_tokens"] for row in top]}],
        # Where a bar leads: the same page, filtered on it (none for events without one).
        "links": [drill_down(query, field, row[field]) if row[field] else None for row in top],
    }


def _budgets(uses: Sequence[BudgetUse]) -> dict:
    labels = [
        f"{use.status.budget.scope} {use.status.budget.subject} ({use.status.budget.period})"
        for use in uses
    ]
    data = [round(100 * use.share, 1) for use in uses]
    return {"labels": labels, "series": [{"label": "% of the limit used", "data": data}]}


def error_kind(status: int | None) -> str:
    """What the errors of one status are called: HTTP 502, or an error recorded on a
    response that did not say so (a stream that failed after its 200)."""
    if status is None:
        return "no status"
    return f"HTTP {status}" if status >= 400 else f"error after HTTP {status}"


def drill_down(query: dict, field: str, value: str) -> str:
    """The page's query string with `field` set to `value`."""
    return "?" + urlencode({**query, field: value})
