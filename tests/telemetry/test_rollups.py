"""Rollups as a model: the same usage rows as counting the events, from any cube."""

import random
from datetime import UTC, datetime

import pytest

from telemetry import rollups
from telemetry.query import EventFilter, parse_moment
from telemetry.rollups import CUBES, Rollup
from telemetry.usage import aggregate
from tests.telemetry.conftest import make_event, near


def traffic(count: int = 600, seed: int = 3) -> list[dict]:
    rnd = random.Random(seed)
    events = []
    for _ in range(count):
        fields = {
            "timestamp": f"2025-01-{rnd.randint(1, 5):02d}T{rnd.randint(0, 23):02d}:00:00.000Z",
            "soeid": rnd.choice(["alice", "bob", "carol", None]),
            "project_name": rnd.choice(["p1", "p2", None]),
            "model": rnd.choice(["gemini", "gpt", None]),
            "event_type": rnd.choice(["llm_completion", "http_request"]),
            "token_jti": rnd.choice(["jti-a", "jti-b", None]),
            "status_code": rnd.choice([200, 200, 200, 429, 502]),
            "latency_ms": rnd.choice([None, rnd.lognormvariate(4, 1)]),
            "prompt_tokens": rnd.randint(0, 100),
            "completion_tokens": rnd.randint(0, 100),
            "cost": rnd.choice([None, 0.1, 0.2, 0.000001234]),
            "error": rnd.choice(["", "", "", "stream broke"]),
        }
        events.append(make_event(**fields))
    return events


def rows_of(cube: str, events: list[dict]) -> list[Rollup]:
    return [
        Rollup(dict(zip(CUBES[c], key, strict=True)), totals)
        for c, key, totals in rollups.cube_rows(rollups.tally(events))
        if c == cube
    ]


def approximately(rows: list[dict]) -> list[dict]:
    """Exact rows as rollups give them: percentiles within the bound, costs to the nano."""
    return [
        {
            **row,
            "cost": pytest.approx(row["cost"], abs=1e-9),
            "p50_latency_ms": near(row["p50_latency_ms"]),
            "p95_latency_ms": near(row["p95_latency_ms"]),
        }
        for row in rows
    ]


@pytest.mark.parametrize(
    "group_by",
    [(), ("soeid",), ("project", "model"), ("day",), ("status",), ("token", "event_type")],
)
def test_usage_rows_from_rollups_are_those_of_the_events(group_by):
    events = traffic()
    from_rollups = rollups.usage_rows(rows_of(rollups.cube_for(group_by), events), group_by)
    assert from_rollups == approximately(aggregate(events, group_by))


def test_every_cube_that_can_answer_gives_the_same_figures():
    events = traffic()
    answers = [
        rollups.usage_rows(rows_of(cube, events), ("day", "model"))
        for cube, dims in CUBES.items()
        if {"day", "model"} <= set(dims)
    ]
    assert len(answers) == 3 and answers[0] == answers[1] == answers[2]


def test_costs_add_up_exactly_in_nano_dollars():
    events = [make_event(cost=0.1), make_event(cost=0.2), make_event(cost=None)]
    (row,) = rollups.usage_rows(rows_of("models", events), ())
    assert row["cost"] == 0.3  # not 0.30000000000000004


@pytest.mark.parametrize(
    "dimensions, cube",
    [
        ((), "models"),
        (("day", "model", "status"), "models"),
        (("soeid",), "people"),
        (("project", "model"), "people"),
        (("soeid", "status"), "all"),
        (("event_type",), "all"),
        (("token",), "all"),
    ],
)
def test_the_smallest_cube_with_the_dimensions_is_read(dimensions, cube):
    assert rollups.cube_for(dimensions) == cube


@pytest.mark.parametrize(
    "since, until, days",
    [
        (None, None, (None, None)),
        ("2025-01-01", "2025-01-08", ("2025-01-01", "2025-01-08")),
        ("2025-01-01T00:00:00+00:00", None, ("2025-01-01", None)),
        ("2025-01-02T01:00:00+01:00", None, ("2025-01-02", None)),  # midnight UTC
        ("2025-01-01T00:00:00.001Z", None, None),
        (None, "2025-01-08T12:00Z", None),
    ],
)
def test_only_whole_utc_days_are_read_from_rollups(since, until, days):
    filters = EventFilter(since=since and parse_moment(since), until=until and parse_moment(until))
    assert rollups.day_range(filters) == days


def test_the_day_of_an_event_is_its_utc_date():
    assert rollups.utc_day("2025-01-31T23:59:59.999Z") == "2025-01-31"
    assert rollups.utc_day("2025-02-01T00:30:00+01:00") == "2025-01-31"
    assert rollups.utc_day(datetime(2025, 1, 31, 23, 0, tzinfo=UTC)) == "2025-01-31"
    assert rollups.utc_day("yesterday") is None
