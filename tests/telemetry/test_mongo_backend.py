"""MongoBackend beyond the shared contract: failover, idempotence, indexes, configuration."""

import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from pymongo.errors import AutoReconnect, BulkWriteError, ConnectionFailure

from telemetry.backends.base import PartialWrite
from telemetry.backends.mongo import MongoBackend
from tests.telemetry.conftest import FLAKY_CLIENT, make_event
from tests.telemetry.fakes import server

PRIMARY, BACKUP = "mongodb://primary:27017", "mongodb://backup:27017"


@pytest.fixture
def mongo(flaky_mongo):
    backend = MongoBackend(
        uris=[PRIMARY, BACKUP], client_factory=FLAKY_CLIENT, retry_primary_interval=0.05
    )
    yield backend
    backend.close()


def stored_ids(uri: str) -> list[str]:
    return sorted(doc["_id"] for doc in server(uri).dgen_db.telemetry.find())


def test_no_client_is_created_until_first_use(mongo, flaky_mongo):
    assert flaky_mongo.CONNECTIONS == []
    mongo.write_batch([make_event()])
    assert [uri for uri, _ in flaky_mongo.CONNECTIONS] == [PRIMARY]


def test_clients_give_up_on_a_server_within_seconds(mongo, flaky_mongo):
    mongo.write_batch([make_event()])
    ((_, options),) = flaky_mongo.CONNECTIONS
    assert options["serverSelectionTimeoutMS"] == options["connectTimeoutMS"] == 2000
    assert options["tz_aware"] is True


def test_events_are_documents_keyed_by_event_id_with_a_date_timestamp(mongo):
    event = make_event()
    mongo.write_batch([event])
    document = server(PRIMARY).dgen_db.telemetry.find_one()
    assert document["_id"] == event["event_id"] and "event_id" not in document
    assert document["timestamp"].year >= 2025


def test_indexes_cover_the_report_filters(mongo):
    mongo.write_batch([make_event()])
    keys = {
        spec["key"][0][0] for spec in server(PRIMARY).dgen_db.telemetry.index_information().values()
    }
    assert {"timestamp", "soeid", "project_name", "model"} <= keys


def test_a_batch_written_twice_is_stored_once(mongo):
    batch = [make_event() for _ in range(5)]
    mongo.write_batch(batch)
    mongo.write_batch(batch)
    assert stored_ids(PRIMARY) == sorted(e["event_id"] for e in batch)


def test_a_batch_half_written_before_a_failure_is_completed_by_the_retry(mongo, flaky_mongo):
    batch = [make_event() for _ in range(6)]
    flaky_mongo.HALF_INSERTS[PRIMARY] = 121  # document validation failure
    with pytest.raises(PartialWrite) as failure:
        mongo.write_batch(batch)
    assert isinstance(failure.value.__cause__, BulkWriteError)
    assert sorted(failure.value.stored_ids) == stored_ids(PRIMARY)
    assert len(stored_ids(PRIMARY)) == 3
    flaky_mongo.HALF_INSERTS.clear()
    mongo.write_batch(batch)
    assert stored_ids(PRIMARY) == sorted(e["event_id"] for e in batch)


def test_duplicate_key_errors_count_as_written(mongo, flaky_mongo):
    flaky_mongo.HALF_INSERTS[PRIMARY] = 11000
    mongo.write_batch([make_event() for _ in range(4)])  # does not raise


@pytest.mark.parametrize("error", [None, AutoReconnect])
def test_writes_fail_over_to_the_backup_and_return_to_the_primary(mongo, flaky_mongo, error):
    flaky_mongo.down(PRIMARY, *([error] if error else []))
    first = make_event()
    mongo.write_batch([first])
    assert stored_ids(BACKUP) == [first["event_id"]] and mongo.mode() == "backup"
    flaky_mongo.up(PRIMARY)
    time.sleep(0.06)  # retry_primary_interval
    second = make_event()
    mongo.write_batch([second])
    assert stored_ids(PRIMARY) == [second["event_id"]] and mongo.mode() == "connected"


def test_while_on_the_backup_the_primary_is_not_retried_before_its_time(flaky_mongo):
    mongo = MongoBackend(uris=[PRIMARY, BACKUP], client_factory=FLAKY_CLIENT)  # 30 s
    flaky_mongo.down(PRIMARY)
    mongo.write_batch([make_event()])
    flaky_mongo.up(PRIMARY)
    mongo.write_batch([make_event()])
    assert len(stored_ids(BACKUP)) == 2 and stored_ids(PRIMARY) == []


def test_all_servers_down_raises_and_health_says_why(mongo, flaky_mongo):
    flaky_mongo.down(PRIMARY)
    flaky_mongo.down(BACKUP)
    with pytest.raises(ConnectionFailure):
        mongo.write_batch([make_event()])
    health = mongo.health()
    assert health["ok"] is False and "connection refused" in health["error"]


def test_a_mongo_backend_needs_a_uri():
    with pytest.raises(ImproperlyConfigured, match="MONGO_URI"):
        MongoBackend(uris=["", ""])


def test_a_wrong_client_factory_is_reported_at_construction():
    with pytest.raises(ImproperlyConfigured, match="client_factory"):
        MongoBackend(uris=[PRIMARY], client_factory="no.such.Client")


def test_usage_falls_back_when_the_server_has_no_percentile_operator(mongo):
    mongo.write_batch([make_event(latency_ms=v) for v in (5.0, 1.0, 3.0)])
    (row,) = mongo.aggregate_usage([])
    # mongomock has no $percentile (like MongoDB < 7.0): the sorted-array pipeline answers.
    assert (row["p50_latency_ms"], row["p95_latency_ms"]) == (3.0, 5.0)
