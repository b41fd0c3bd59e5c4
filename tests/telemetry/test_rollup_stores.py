"""Every store keeps rollups that agree with a recount of its events: after ordinary
writes, duplicates, refusals (the quarantine), removals, failover, replay, prune and a
retention's expiry; on CSV, on mongomock, and on a real MongoDB-protocol server; checked
and repaired by `telemetry_rollups --verify` / `--rebuild`."""

import io
import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from dgen_ping_site.clock import iso_utc
from telemetry import rollups
from telemetry.backends import stores
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
    # Only a store that can remove single events is asked to (a file of rows cannot).
    assert backend.can_discard == (not isinstance(backend, CSVBackend))
    if backend.can_discard:
        backend.discard([event["event_id"] for event in events[:15]])
    left = 25 if backend.can_discard else 40
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


def verify_command(*options: str) -> str:
    """`telemetry_rollups --verify`'s output (the test fails if it exits 1)."""
    out = io.StringIO()
    call_command("telemetry_rollups", "--verify", *options, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_command_verifies_and_rebuilds(report_store):
    write_in_batches(report_store, traffic(120))
    assert "agree with a recount of 120 events" in verify_command()
    tamper(report_store)
    err = io.StringIO()
    with pytest.raises(CommandError, match=f"{len(rollups.CUBES)} difference"):
        call_command("telemetry_rollups", "--verify", stdout=io.StringIO(), stderr=err)
    assert "requests: " in err.getvalue()
    call_command("telemetry_rollups", "--rebuild", stdout=io.StringIO())
    assert "agree with a recount of 120 events" in verify_command()
    assert "agree with a recount of 0 events" in verify_command("--since", "2025-02-01")
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


# --- through the commands that move and delete events -------------------------------------


def test_replay_and_prune_leave_the_rollups_of_each_store_agreeing(
    settings, tmp_path, flaky_mongo, mongo_server, mongo_db
):
    """replay_telemetry (CSV fallback -> a real MongoDB-protocol server: duplicates skipped,
    a refused event quarantined, files archived) and prune_telemetry (old CSV files deleted):
    telemetry_rollups --verify agrees on both stores after each."""
    mongo = use_store(settings, tmp_path, "mongo", mongo_server.uri, mongo_db)
    fallback = stores["fallback"]
    sent = traffic(300)
    poison = make_event(extra={"bad\x00key": 1})  # CSV takes it; MongoDB refuses it
    mongo.write_batch(sent[:50])  # already in MongoDB: the replay must not count them again
    fallback.write_batch([*sent[:150], poison])
    fallback.rotate()
    fallback.write_batch(sent[150:])
    assert "recount of 50 events" in verify_command("--source", "mongo")
    assert "recount of 301 events" in verify_command("--source", "fallback")

    call_command("replay_telemetry", stdout=io.StringIO(), stderr=io.StringIO())
    assert len(list((tmp_path / "quarantine").glob("*.jsonl"))) == 1
    assert "recount of 300 events" in verify_command("--source", "mongo")
    assert "recount of 0 events" in verify_command("--source", "fallback")
    assert requests(mongo) == 300

    fallback.write_batch(traffic(40, seed=7))
    old = fallback.rotate()
    fallback.write_batch(traffic(10, seed=8))
    past = (datetime.now(UTC) - timedelta(days=10)).timestamp()
    os.utime(old, (past, past))
    call_command("prune_telemetry", "--days", "5", stdout=io.StringIO())
    assert not old.exists()
    assert "recount of 10 events" in verify_command("--source", "fallback")
    assert requests(fallback) == 10


@pytest.mark.parametrize("kind", ["mongomock", "mongodb"])
def test_rollups_follow_the_retention_a_day_at_a_time(kind, request, flaky_mongo):
    """Events expire one by one (MongoDB's TTL index), a day's rollup rows all at once a
    day after the day's last events: a day the TTL has begun to expire still reports its
    whole usage, and --verify compares only the days it has not touched."""
    if kind == "mongodb":
        server = request.getfixturevalue("mongo_server")
        options = {"uri": server.uri, "db_name": request.getfixturevalue("mongo_db")}
    else:
        options = {"uri": "mongodb://retention", "client_factory": FLAKY_CLIENT}
    store = MongoBackend(**options, retention_days=3)
    now = datetime.now(UTC)
    events = traffic(240)
    for i, event in enumerate(events):  # one every half hour, back from now: 5 days
        event["timestamp"] = iso_utc(now - timedelta(minutes=30 * i))
    write_in_batches(store, events)
    cutoff = now - timedelta(days=3)
    store.collection().delete_many({"timestamp": {"$lt": cutoff}})  # what the TTL monitor does

    kept = rollups.first_kept_day(3, now)
    assert kept == rollups.midnight((cutoff + timedelta(days=1)).date().isoformat())
    counted, problems = rollups.verify(store, EVERYTHING, now=now)
    assert problems == []
    assert counted == sum(1 for e in events if e["timestamp"] >= iso_utc(kept))
    expired_day = rollups.midnight(cutoff.date().isoformat())
    whole_day = sum(1 for e in events if e["timestamp"][:10] == cutoff.date().isoformat())
    left = sum(1 for e in store.iter_events(EventFilter(since=expired_day, until=kept)))
    assert requests(store, since=expired_day, until=kept) == whole_day > left
    store.close()
