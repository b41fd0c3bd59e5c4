"""The TelemetryBackend contract, run against every store: CSV, mongomock, and a real
MongoDB-protocol server (SecantusDB, or the mongod at TEST_MONGO_URI)."""

import uuid
from datetime import UTC, datetime

import pytest

from telemetry.query import EventFilter
from tests.telemetry.conftest import make_event

# The stores: the `backend` fixture (tests/telemetry/conftest.py).


def at(day: int, hour: int = 12, ms: int = 0) -> str:
    return f"2025-01-{day:02d}T{hour:02d}:00:00.{ms:03d}Z"


# Hand-computed answers below are for this data set.
DATASET = [
    dict(soeid="alice", project_name="p1", model="gemini", latency_ms=10.0, timestamp=at(1),
         prompt_tokens=10, completion_tokens=5, total_tokens=15, cost=0.25, token_jti="t1"),
    dict(soeid="alice", project_name="p1", model="gemini", latency_ms=30.0, timestamp=at(1, 13),
         prompt_tokens=20, completion_tokens=10, total_tokens=30, status_code=502,
         error="upstream failed"),
    dict(soeid="alice", project_name="p2", model="gpt", latency_ms=20.0, timestamp=at(2),
         prompt_tokens=1, completion_tokens=1, total_tokens=2, cost=0.125, token_jti="t2"),
    dict(soeid="bob", project_name="p1", model="gemini", latency_ms=40.0, timestamp=at(2, 8),
         status_code=401),
    dict(soeid="bob", project_name="p1", model=None, latency_ms=None, timestamp=at(3),
         event_type="custom_event", error="client said so"),
]  # fmt: skip


@pytest.fixture
def stored(backend):
    events = [make_event(**fields) for fields in DATASET]
    backend.write_batch(events)
    return events


def ids(events) -> list[str]:
    return sorted(event["event_id"] for event in events)


def test_written_events_read_back_identical(backend, stored):
    assert sorted(backend.iter_events(), key=lambda e: e["event_id"]) == sorted(
        stored, key=lambda e: e["event_id"]
    )


def test_every_type_survives_storage(backend):
    event = make_event(
        tokens_estimated=True, temperature=0.7, max_tokens=100, extra={"k": [1, {"x": None}]}
    )
    backend.write_batch([event])
    assert list(backend.iter_events()) == [event]


def test_an_empty_store_reads_and_aggregates_to_nothing(backend):
    backend.write_batch([])
    assert list(backend.iter_events()) == []
    assert backend.aggregate_usage(["soeid"]) == []
    assert backend.aggregate_usage([]) == []


@pytest.mark.parametrize(
    "filters, expected",
    [
        (EventFilter(soeid="bob"), [3, 4]),
        (EventFilter(project="p1", model="gemini"), [0, 1, 3]),
        (EventFilter(event_type="custom_event"), [4]),
        # since is inclusive, until exclusive, to the millisecond.
        (EventFilter(since=datetime(2025, 1, 2, 8, tzinfo=UTC)), [2, 3, 4]),
        (EventFilter(until=datetime(2025, 1, 2, 12, tzinfo=UTC)), [0, 1, 3]),
        (EventFilter(since=datetime(2025, 1, 1, 13), until=datetime(2025, 1, 2, 12)), [1, 3]),
    ],
)
def test_filters_select_exactly_the_matching_events(backend, stored, filters, expected):
    filters = _aware(filters)
    assert ids(backend.iter_events(filters)) == ids(stored[i] for i in expected)


def _aware(filters: EventFilter) -> EventFilter:
    fix = lambda m: m.replace(tzinfo=UTC) if m and m.tzinfo is None else m  # noqa: E731
    return EventFilter(
        since=fix(filters.since), until=fix(filters.until), soeid=filters.soeid,
        project=filters.project, model=filters.model, event_type=filters.event_type,
    )  # fmt: skip


def test_usage_per_soeid(backend, stored):
    assert backend.aggregate_usage(["soeid"]) == [
        {"soeid": "alice", "requests": 3, "errors": 1, "prompt_tokens": 31,
         "completion_tokens": 16, "total_tokens": 47, "cost": 0.375, "p50_latency_ms": 20.0,
         "p95_latency_ms": 30.0},
        {"soeid": "bob", "requests": 2, "errors": 2, "prompt_tokens": 0,
         "completion_tokens": 0, "total_tokens": 0, "cost": 0.0, "p50_latency_ms": 40.0,
         "p95_latency_ms": 40.0},
    ]  # fmt: skip


def test_usage_per_token_sums_cost(backend, stored):
    rows = backend.aggregate_usage(["token"])
    assert [(r["token"], r["requests"], r["cost"]) for r in rows] == [
        (None, 3, 0.0),
        ("t1", 1, 0.25),
        ("t2", 1, 0.125),
    ]


def test_usage_per_project_and_model_orders_missing_values_first(backend, stored):
    rows = backend.aggregate_usage(["project", "model"])
    assert [(r["project"], r["model"], r["requests"]) for r in rows] == [
        ("p1", None, 1),
        ("p1", "gemini", 3),
        ("p2", "gpt", 1),
    ]
    assert rows[0]["p50_latency_ms"] is None


def test_usage_per_day_with_filters(backend, stored):
    rows = backend.aggregate_usage(["day"], EventFilter(soeid="alice"))
    assert [(r["day"], r["requests"], r["total_tokens"]) for r in rows] == [
        ("2025-01-01", 2, 45),
        ("2025-01-02", 1, 2),
    ]


def test_usage_without_grouping_is_one_total_row(backend, stored):
    (row,) = backend.aggregate_usage([])
    assert (row["requests"], row["errors"], row["total_tokens"]) == (5, 3, 47)
    # Nearest rank over [10, 20, 30, 40]: p50 is the 2nd value, p95 the 4th.
    assert (row["p50_latency_ms"], row["p95_latency_ms"]) == (20.0, 40.0)


def test_unknown_group_is_refused(backend):
    with pytest.raises(ValueError, match="choose from"):
        backend.aggregate_usage(["colour"])


def test_existing_ids_names_only_stored_events(backend, stored):
    asked = [stored[0]["event_id"], stored[4]["event_id"], uuid.uuid4().hex]
    assert backend.existing_ids(asked) == set(asked[:2])
    assert backend.existing_ids([]) == set()


def test_health_of_a_working_store(backend):
    assert backend.health() == {"ok": True, "error": None}


def test_recent_events_page_newest_first_without_gaps_or_repeats(backend, stored):
    twin = make_event(timestamp=at(2, 8))  # same millisecond as stored[3]: the id breaks the tie
    backend.write_batch([twin])
    pages, before = [], None
    while page := backend.recent_events(before=before, limit=2):
        pages.append(page)
        before = (page[-1]["timestamp"], page[-1]["event_id"])
    order = [(e["timestamp"], e["event_id"]) for page in pages for e in page]
    assert [len(page) for page in pages] == [2, 2, 2]
    assert order == sorted(order, reverse=True) and len(set(order)) == 6


def test_recent_events_apply_filters(backend, stored):
    page = backend.recent_events(EventFilter(soeid="alice"), limit=10)
    assert [e["event_id"] for e in page] == [stored[i]["event_id"] for i in (2, 1, 0)]


def test_count_events_is_exact_or_unknown(backend, stored):
    assert backend.count_events(EventFilter(soeid="bob")) in (None, 2)
    assert backend.count_events() in (None, 5)
