"""Rollups: usage totals per UTC day, kept as events are stored, so reports need not read
every event.

A rollup row holds, for one day and one combination of dimension values, what a usage row
reports (telemetry.usage): requests, errors, token sums, cost (in whole nano-dollars, so sums
are exact in any order) and the latencies as a histogram (telemetry.histogram) with the
smallest and largest. Each store keeps its own, as it stores a batch, on the shipping side
(telemetry.backends.csv_rollups, telemetry.backends.mongo_rollups).

Rows are kept in three cubes. A report reads the smallest cube holding every dimension it
groups or filters by; the rows add up exactly, so every cube gives the same figures:

    models   day, model, status                                      the dashboard's charts
    people   day, soeid, project, model                              people, projects, usage/me
    all      day, soeid, project, model, event_type, token, status   anything else

Only whole UTC days are answered from rollups. A report whose since or until is not a
midnight UTC counts the events themselves (telemetry.selectors.UsageReader).
"""

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple

from telemetry import histogram
from telemetry.query import GROUP_FIELDS, EventFilter, parse_timestamp
from telemetry.usage import COST_FIELD, PERCENTILES, TOKEN_FIELDS, is_error, sort_key

NANOS_PER_USD = 10**9
SECONDS_PER_DAY = 86400
DIMENSIONS = ("day", "soeid", "project", "model", "event_type", "token", "status")
CUBES: dict[str, tuple[str, ...]] = {
    "models": ("day", "model", "status"),
    "people": ("day", "soeid", "project", "model"),
    "all": DIMENSIONS,
}
# The filters of EventFilter that are dimensions (all of them but the time range).
FILTER_DIMENSIONS = ("soeid", "project", "model", "event_type")
# Stores keep this with their rollups: rollups made under another definition are not used.
VERSION = f"1;alpha={histogram.RELATIVE_ERROR};tokens={','.join(TOKEN_FIELDS)};" + ";".join(
    f"{name}={','.join(dims)}" for name, dims in CUBES.items()
)

Key = tuple  # dimension values, in the order of a cube's dimensions


@dataclass(slots=True)
class Totals:
    """What a rollup row counts. `histogram` is empty when the reader did not ask for it."""

    requests: int = 0
    errors: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_FIELDS, 0))
    nanos: int = 0
    latency_min: float | None = None
    latency_max: float | None = None
    histogram: dict[int, int] = field(default_factory=dict)

    def add(self, event: Mapping) -> None:
        self.requests += 1
        self.errors += is_error(event)
        for name in TOKEN_FIELDS:
            self.tokens[name] += event.get(name) or 0
        self.nanos += cost_nanos(event.get(COST_FIELD))
        latency = event.get("latency_ms")
        if isinstance(latency, int | float) and math.isfinite(latency):
            self._add_latency(latency)

    def _add_latency(self, value: float) -> None:
        index = histogram.bucket(value)
        self.histogram[index] = self.histogram.get(index, 0) + 1
        self.latency_min = value if self.latency_min is None else min(self.latency_min, value)
        self.latency_max = value if self.latency_max is None else max(self.latency_max, value)

    def merge(self, other: "Totals") -> "Totals":
        self.requests += other.requests
        self.errors += other.errors
        for name in TOKEN_FIELDS:
            self.tokens[name] += other.tokens[name]
        self.nanos += other.nanos
        self.latency_min = _extreme(min, self.latency_min, other.latency_min)
        self.latency_max = _extreme(max, self.latency_max, other.latency_max)
        histogram.merge(self.histogram, other.histogram)
        return self

    def metrics(self) -> dict:
        """The metric columns of a usage row (telemetry.usage.row_columns)."""
        row = {"requests": self.requests, "errors": self.errors, **self.tokens}
        row[COST_FIELD] = self.nanos / NANOS_PER_USD
        for name, fraction in PERCENTILES.items():
            row[name] = histogram.percentile(
                self.histogram, fraction, self.latency_min, self.latency_max
            )
        return row

    def differences(self, counted: "Totals") -> list[str]:
        """How these rollup totals differ from `counted`, a recount of the events.

        min and max need only bound the recount's: a store that removed events (a copy the
        failover chain found twice) cannot shrink them.
        """
        problems = [
            f"{name}: {mine} rolled up, {theirs} counted"
            for name, mine, theirs in (
                ("requests", self.requests, counted.requests),
                ("errors", self.errors, counted.errors),
                ("cost nanos", self.nanos, counted.nanos),
                *((name, self.tokens[name], counted.tokens[name]) for name in TOKEN_FIELDS),
            )
            if mine != theirs
        ]
        if self.histogram != counted.histogram:
            problems.append("latency histogram differs")
        if not _bounds(self.latency_min, self.latency_max, counted):
            problems.append(
                f"latency range [{self.latency_min}, {self.latency_max}] does not hold "
                f"[{counted.latency_min}, {counted.latency_max}]"
            )
        return problems


def _extreme(pick, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else pick(a, b)


def _bounds(low: float | None, high: float | None, counted: Totals) -> bool:
    if counted.latency_min is None:
        return True
    return (low is not None and low <= counted.latency_min) and (
        high is not None and high >= counted.latency_max
    )


def cost_nanos(cost) -> int:
    """A cost in USD as whole nano-dollars (0 for none, or for what is not a number)."""
    if not isinstance(cost, int | float) or not math.isfinite(cost):
        return 0
    return round(cost * NANOS_PER_USD)


class Rollup(NamedTuple):
    """One row a store returns: its dimension values by name, and its totals."""

    values: dict
    totals: Totals


# --- counting events ------------------------------------------------------------------------


def utc_day(timestamp) -> str | None:
    """'2025-01-31' for an event timestamp (UTC; a MongoDB document's is a date); None when
    it is not a time."""
    if isinstance(timestamp, str) and len(timestamp) == 24 and timestamp.endswith("Z"):
        return timestamp[:10]  # the gateway's own format: no parsing needed
    if isinstance(timestamp, datetime):
        moment = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
        return moment.astimezone(UTC).date().isoformat()
    try:
        return parse_timestamp(timestamp).date().isoformat()
    except (TypeError, ValueError):
        return None


def event_key(event: Mapping) -> Key:
    """The event's values of DIMENSIONS."""
    values = [utc_day(event.get("timestamp"))]
    values += [event.get(GROUP_FIELDS[name]) for name in DIMENSIONS[1:]]
    return tuple(values)


def tally(events: Iterable[Mapping]) -> dict[Key, Totals]:
    """Totals per DIMENSIONS key (the `all` cube) of these events."""
    groups: dict[Key, Totals] = {}
    for event in events:
        key = event_key(event)
        totals = groups.get(key)
        if totals is None:
            totals = groups[key] = Totals()
        totals.add(event)
    return groups


def cube_rows(counted: Mapping[Key, Totals]) -> Iterator[tuple[str, Key, Totals]]:
    """(cube, key, totals) of every cube, from totals per DIMENSIONS key (tally's)."""
    for cube, dims in CUBES.items():
        positions = [DIMENSIONS.index(name) for name in dims]
        merged: dict[Key, Totals] = {}
        for key, totals in counted.items():
            part = tuple(key[i] for i in positions)
            if part in merged:
                merged[part].merge(totals)
            else:
                merged[part] = Totals().merge(totals)
        for key, totals in merged.items():
            yield cube, key, totals


# --- reading --------------------------------------------------------------------------------


def cube_for(dimensions: Iterable[str]) -> str:
    """The smallest cube with every one of these dimensions."""
    needed = set(dimensions)
    return next(name for name, dims in CUBES.items() if needed <= set(dims))


def filter_values(filters: EventFilter, cube: str | None = None) -> dict[str, str]:
    """The filter's dimension values (None: any); ValueError if `cube` lacks one of them."""
    values = {name: getattr(filters, name) for name in FILTER_DIMENSIONS}
    values = {name: value for name, value in values.items() if value is not None}
    missing = set(values) - set(CUBES[cube]) if cube else set()
    if missing:
        raise ValueError(f"The {cube!r} rollups cannot filter by {sorted(missing)}.")
    return values


def day_range(filters: EventFilter) -> tuple[str | None, str | None] | None:
    """The filter's time range as days: [first, end) as 'YYYY-MM-DD' (None: open), or None
    when since or until is not a midnight UTC (rollups cannot answer it)."""
    days = []
    for moment in (filters.since, filters.until):
        if moment is None:
            days.append(None)
        elif moment.astimezone(UTC).timetz().replace(tzinfo=None) == time():
            days.append(moment.astimezone(UTC).date().isoformat())
        else:
            return None
    return days[0], days[1]


def in_range(day: str | None, days: tuple[str | None, str | None]) -> bool:
    """Whether a row's day is in a day_range (rows of no day only without a range)."""
    first, end = days
    if day is None:
        return first is None and end is None
    return (first is None or day >= first) and (end is None or day < end)


def midnight(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def usage_rows(rollups: Iterable[Rollup], group_by: Sequence[str]) -> list[dict]:
    """Usage rows (telemetry.usage) per group, from rollup rows, ordered by group values."""
    groups: dict[tuple, Totals] = {}
    for rollup in rollups:
        key = tuple(rollup.values[name] for name in group_by)
        if key in groups:
            groups[key].merge(rollup.totals)
        else:
            groups[key] = Totals().merge(rollup.totals)
    rows = [
        {**dict(zip(group_by, key, strict=True)), **totals.metrics()}
        for key, totals in groups.items()
        if totals.requests
    ]
    return sorted(rows, key=lambda row: sort_key(row, group_by))


# --- checking -------------------------------------------------------------------------------


def first_kept_day(retention_days: float | None, now: datetime) -> datetime | None:
    """Midnight UTC of the first day whose events a store expiring them after
    `retention_days` (MongoDB's TTL) still holds every one of (None: it expires nothing).

    Older days are partly expired, event by event, while their rollup rows expire whole, a
    day after the day's last events: a recount of them cannot agree, and is not made.
    """
    if not retention_days:
        return None
    cutoff = now - timedelta(seconds=int(retention_days * SECONDS_PER_DAY))  # as the TTL
    day = midnight(cutoff.date().isoformat())
    return day if day == cutoff else day + timedelta(days=1)


def verify(store, filters: EventFilter, now: datetime | None = None) -> tuple[int, list[str]]:
    """Recount the store's events matching `filters` (whole days, from the first day its
    retention has not begun to expire) and compare every cube's rollups with the recount:
    (events counted, differences; none when they agree)."""
    kept = first_kept_day(store.retention_days, now or datetime.now(UTC))
    if kept is not None and (filters.since is None or filters.since < kept):
        if filters.until is not None and filters.until <= kept:
            return 0, []
        filters = replace(filters, since=kept)
    counted = tally(store.iter_events(filters))
    expected: dict[str, dict[Key, Totals]] = {cube: {} for cube in CUBES}
    for cube, key, totals in cube_rows(counted):
        expected[cube][key] = totals
    problems = []
    for cube, dims in CUBES.items():
        if not set(filter_values(filters)) <= set(dims):
            continue  # a cube that cannot answer this filter is never read for it
        found = store.rollup_rows(cube, filters)
        if found is None:
            return _events(counted), [f"{type(store).__name__} has no rollups to compare"]
        actual: dict[Key, Totals] = {}
        for rollup in found:
            key = tuple(rollup.values[name] for name in dims)
            actual.setdefault(key, Totals()).merge(rollup.totals)
        problems += _compare(cube, dims, expected[cube], actual)
    return _events(counted), problems


def _events(counted: Mapping[Key, Totals]) -> int:
    return sum(totals.requests for totals in counted.values())


def _compare(cube: str, dims, expected: Mapping, actual: Mapping) -> list[str]:
    problems = []
    for key in sorted(set(expected) | set(actual), key=repr):
        mine, theirs = actual.get(key, Totals()), expected.get(key, Totals())
        for problem in mine.differences(theirs):
            where = ", ".join(f"{name}={value}" for name, value in zip(dims, key, strict=True))
            problems.append(f"{cube} [{where}]: {problem}")
    return problems
