"""Usage totals per group, computed in Python for stores without a query engine (CSV).

The metrics and their definitions are the contract every backend's aggregate_usage keeps:
requests, errors (status >= 400 or an error recorded), summed tokens, summed cost (USD;
events without a price count as 0), and p50/p95 of latency_ms by nearest rank (the smallest
observed value with at least p of the values at or below it).

Reports of whole UTC days read the same rows from rollups (telemetry.rollups): every
figure is the same but the percentiles, which come from a histogram and are within 1 % of
the nearest-rank value (exact for the smallest and largest value: telemetry.histogram).
"""

import math
from array import array
from collections.abc import Iterable, Sequence

from telemetry.query import GROUP_FIELDS

TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
COST_FIELD = "cost"
PERCENTILES = {"p50_latency_ms": 0.5, "p95_latency_ms": 0.95}


def row_columns(group_by: Sequence[str]) -> dict[str, type]:
    """The columns of a usage row, in order, with their types."""
    metrics = {
        "requests": int,
        "errors": int,
        **dict.fromkeys(TOKEN_FIELDS, int),
        COST_FIELD: float,
    }
    return {**dict.fromkeys(group_by, str), **metrics, **dict.fromkeys(PERCENTILES, float)}


def is_error(event: dict) -> bool:
    return (event.get("status_code") or 0) >= 400 or bool(event.get("error"))


def nearest_rank(sorted_values: Sequence[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def group_key(event: dict, group_by: Sequence[str]) -> tuple:
    key = []
    for name in group_by:
        value = event.get(GROUP_FIELDS[name])
        key.append(value[:10] if name == "day" and value else value)
    return tuple(key)


class _Totals:
    __slots__ = ("requests", "errors", "tokens", "cost", "latencies")

    def __init__(self):
        self.requests = 0
        self.errors = 0
        self.tokens = dict.fromkeys(TOKEN_FIELDS, 0)
        self.cost = 0.0
        # 8 bytes a value: a million requests in one group cost 8 MB, not 32.
        self.latencies = array("d")

    def add(self, event: dict) -> None:
        self.requests += 1
        self.errors += is_error(event)
        for name in TOKEN_FIELDS:
            self.tokens[name] += event.get(name) or 0
        self.cost += event.get(COST_FIELD) or 0.0
        if event.get("latency_ms") is not None:
            self.latencies.append(event["latency_ms"])

    def as_row(self) -> dict:
        ordered = sorted(self.latencies)
        row = {"requests": self.requests, "errors": self.errors, **self.tokens}
        row[COST_FIELD] = self.cost
        for name, fraction in PERCENTILES.items():
            row[name] = nearest_rank(ordered, fraction)
        return row


def sort_key(row: dict, group_by: Sequence[str]) -> tuple:
    # None sorts first, like Mongo's null.
    return tuple((row[name] is not None, row[name] or "") for name in group_by)


def aggregate(events: Iterable[dict], group_by: Sequence[str]) -> list[dict]:
    """One row per group: the group's values, then the metrics; ordered by group values."""
    groups: dict[tuple, _Totals] = {}
    for event in events:
        key = group_key(event, group_by)
        totals = groups.get(key)
        if totals is None:
            totals = groups[key] = _Totals()
        totals.add(event)
    rows = [{**dict(zip(group_by, key, strict=True)), **t.as_row()} for key, t in groups.items()]
    return sorted(rows, key=lambda row: sort_key(row, group_by))
