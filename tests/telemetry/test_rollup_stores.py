"""Every store keeps rollups that agree with a recount of its events: after ordinary
writes, duplicates, refusals (the quarantine), removals, failover and replay; on CSV, on
mongomock, and on a real MongoDB-protocol server."""

import io
import json
import sqlite3

import pytest
from django.core.management import CommandError, call_command

from telemetry import rollups
from telemetry.backends.base import EventsRefused
from telemetry.backends.chain import ChainStore
from telemetry.backends.csv import CSVBackend
from telemetry.backends.mongo import MongoBackend
from telemetry.query import EventFilter
from telemetry.replay import replay_file
from tests.telemetry.conftest import FLAKY_CLIENT, make_event, use_store

# The stores: the `backend` fixture (tests/telemetry/conftest.py).
from tests.telemetry.test_rollups import approximately, traffic

EVERYTHING = EventFilter()


def agrees(store) -> int:
    """The events counted, once rollups and recount agree (the test fails otherwise)."""
    counted, problems = rollups.verify(store, EVERYTHING)
    assert problems == []
    return counted


def requests(store, **filters) -> int:
    rows = rollups.usage_rows(store.rollup_rows("people", EventFilter(**filters)), ())
    return rows[0]["requests"] if rows else 0


def write_in_batches(store, events: list[dict], size: int = 100) -> None:
    for start in range(0, len(events), size):
        store.write_batch(events[start : start + size])


def test_rollups_agree_with_a_recount_and_give_the_events_usage(backend):
    events = traffic(500)
    write_in_batches(backend, events)
    assert agrees(backend) == 500
    for group_by in [("soeid",), ("day", "model"), ("status",), ("token",)]:
        found = backend.rollup_rows(rollups.cube_for(group_by), EVERYTHING)
        exact = backend.aggregate_usage(group_by, EVERYTHING)
        assert rollups.usage_rows(found, group_by) == approximately(exact)


def test_rollups_of_whole_days_and_filters(backend):
    write_in_batches(backend, traffic(300))
    days = EventFilter(since=rollups.midnight("2025-01-02"), until=rollups.midnight("2025-01-04"))
    alice = EventFilter(since=days.since, until=days.until, soeid="alice", model="gpt")
    for filters in (days, alice):
        assert rollups.verify(backend, filters)[1] == []
        found = rollups.usage_rows(backend.rollup_rows("all", filters), ("day",))
        assert found == approximately(backend.aggregate_usage(("day",), filters))
        assert {row["day"] for row in found} <= {"2025-01-02", "2025-01-03"}


def test_a_batch_written_again_is_counted_as_it_is_stored(backend):
    events = traffic(50)
    backend.write_batch(events)
    backend.write_batch([*events[:20], make_event()])  # MongoDB stores each event once
    stored = sum(1 for _ in backend.iter_events())
    assert stored == (51 if isinstance(backend, MongoBackend) else 71)
    assert agrees(backend) == stored == requests(backend)


POISON = {
    "csv": {"error": "\udcff lone surrogate"},  # no UTF-8 for it
    "mongo": {"extra": {"bad\x00key": 1}},  # no BSON for it
}


def test_refused_events_are_not_counted(backend):
    poison = make_event(**POISON["csv" if isinstance(backend, CSVBackend) else "mongo"])
    with pytest.raises(EventsRefused) as refused:
        backend.write_batch([make_event(), poison, make_event()])
    assert set(refused.value.refused) == {poison["event_id"]}
    assert agrees(backend) == 2 == requests(backend)


def test_events_removed_from_a_store_leave_its_rollups(backend):
    events = traffic(40)
    backend.write_batch(events)
    removed = backend.discard([event["event_id"] for event in events[:15]])
    left = 25 if removed else 40  # a CSV backend cannot remove single events: it says so
    assert removed == (not isinstance(backend, CSVBackend))
    assert agrees(backend) == left == requests(backend)


def test_a_rebuild_repairs_rollups_that_drifted(backend, settings):
    write_in_batches(backend, traffic(200))
    tamper(backend)
    counted, problems = rollups.verify(backend, EVERYTHING)
    assert counted == 200 and len(problems) == len(rollups.CUBES)
    assert all("requests:" in problem for problem in problems), problems
    backend.rebuild_rollups()
    assert agrees(backend) == 200


def tamper(store) -> None:
    """Add 7 requests to one row of each cube behind the store's back."""
    if isinstance(store, CSVBackend):
        with sqlite3.connect(store.directory / "rollups.sqlite3") as db:
            for cube in rollups.CUBES:
                (day,) = db.execute("SELECT max(day) FROM rollups WHERE cube = ?", (cube,))
                db.execute(
                    "UPDATE rollups SET requests = requests + 7 WHERE (cube, day, soeid, "
                    "project, model, event_type, token, status, file) = (SELECT cube, day, "
                    "soeid, project, model, event_type, token, status, file FROM rollups "
                    "WHERE cube = ? AND day = ? LIMIT 1)",
                    (cube, day[0]),
                )
        return
    collection = store.rollups_collection()
    for cube in rollups.CUBES:
        document = collection.find_one({"cube": cube})
        collection.update_one({"_id": document["_id"]}, {"$inc": {"requests": 7}})


def test_the_command_verifies_and_rebuilds(settings, tmp_path, flaky_mongo):
    store = use_store(settings, tmp_path, "csv")
    write_in_batches(store, traffic(120))
    out = io.StringIO()
    call_command("telemetry_rollups", "--verify", stdout=out)
    assert "agree with a recount of 120 events" in out.getvalue()
    tamper(store)
    with pytest.raises(CommandError, match="difference"):
        call_command("telemetry_rollups", "--verify", stdout=io.StringIO(), stderr=io.StringIO())
    call_command("telemetry_rollups", "--rebuild", stdout=io.StringIO())
    call_command("telemetry_rollups", "--verify", "--since", "2025-01-02", stdout=out)
    with pytest.raises(CommandError, match="must be dates"):
        call_command("telemetry_rollups", "--verify", "--since", "2025-01-02T10:00Z")


# --- across stores: failover and replay ----------------------------------------------------


def test_failover_and_replay_leave_every_store_agreeing(tmp_path, flaky_mongo, settings):
    primary_uri = "mongodb://failover-primary"
    primary = MongoBackend(uri=primary_uri, client_factory=FLAKY_CLIENT)
    fallback = CSVBackend(tmp_path / "fallback")
    clock = [0.0]
    chain = ChainStore([("primary", primary), ("csv", fallback)], 30.0, lambda: clock[0])
    sent = traffic(400)
    write_in_batches(chain, sent[:100])
    flaky_mongo.down(primary_uri)
    write_in_batches(chain, sent[100:250])  # the primary is down: CSV takes them
    flaky_mongo.up(primary_uri)
    clock[0] += 31
    write_in_batches(chain, sent[250:])  # back on the primary
    assert (agrees(primary), agrees(fallback)) == (250, 150)

    settings.TELEMETRY = {**settings.TELEMETRY, "QUARANTINE_DIR": tmp_path / "quarantine"}
    for path in fallback.files():
        replay_file(path, target=primary)  # into the primary; archived out of the CSV store
    assert (agrees(primary), agrees(fallback)) == (400, 0)
    assert requests(primary) == 400


def test_reports_of_whole_days_read_the_rollups_and_other_ranges_the_events(
    settings, tmp_path, flaky_mongo
):
    store = use_store(settings, tmp_path, "csv")
    write_in_batches(store, traffic(100))
    tamper(store)  # 7 more requests in the rollups than in the events

    def total(*options) -> int:
        out = io.StringIO()
        call_command("telemetry_stats", "--format", "json", *options, stdout=out)
        return json.loads(out.getvalue())["rows"][0]["requests"]

    assert total() == total("--since", "2025-01-01", "--until", "2025-02-01") == 107
    assert total("--since", "2025-01-01T00:00:00.001Z") == 100
