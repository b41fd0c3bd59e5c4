"""MongoBackend beyond the shared contract, on a real MongoDB-protocol server (SecantusDB, or
TEST_MONGO_URI): documents, idempotence, refusals, indexes and their use, TTL, write
concern, a server killed and restarted. The mongomock fake only where a real server cannot
be made to do it on demand (a bulk write half applied, no $percentile)."""

from datetime import datetime

import pytest
from django.core.exceptions import ImproperlyConfigured
from pymongo.errors import BulkWriteError, ConnectionFailure

from telemetry.backends.base import EventsRefused, PartialWrite, UncertainWrite
from telemetry.backends.mongo import MongoBackend
from telemetry.query import EventFilter
from tests.telemetry.conftest import FLAKY_CLIENT, make_event

FAKE = "mongodb://fake:27017"


@pytest.fixture
def mongo(mongo_server, mongo_db):
    backend = MongoBackend(uri=mongo_server.uri, db_name=mongo_db, server_selection_timeout_ms=500)
    yield backend
    backend.close()


@pytest.fixture
def fake(flaky_mongo):
    backend = MongoBackend(uri=FAKE, client_factory=FLAKY_CLIENT)
    yield backend
    backend.close()


def stored_ids(backend: MongoBackend) -> list[str]:
    return sorted(doc["_id"] for doc in backend.collection().find({}, {"_id": 1}))


def ids(events) -> list[str]:
    return sorted(event["event_id"] for event in events)


# --- connections ----------------------------------------------------------------------------


def test_no_client_is_created_until_first_use(fake, flaky_mongo):
    assert flaky_mongo.CONNECTIONS == []
    fake.write_batch([make_event()])
    assert [uri for uri, _ in flaky_mongo.CONNECTIONS] == [FAKE]


def test_clients_give_up_on_a_server_within_seconds(fake, flaky_mongo):
    fake.write_batch([make_event()])
    ((_, options),) = flaky_mongo.CONNECTIONS
    assert options["serverSelectionTimeoutMS"] == options["connectTimeoutMS"] == 2000
    assert options["tz_aware"] is True


@pytest.mark.parametrize(
    "uri, message",
    [("", "needs a URI"), ("notauri", "is not a MongoDB URI"), ("mongodb://", "not a MongoDB")],
)
def test_a_missing_or_malformed_uri_is_a_configuration_error(uri, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        MongoBackend(uri=uri)


def test_a_malformed_uri_is_reported_without_its_password():
    with pytest.raises(ImproperlyConfigured) as error:
        MongoBackend(uri="mongodb://user:hunter2@host:notaport")
    assert "hunter2" not in str(error.value)


def test_a_wrong_client_factory_is_reported_at_construction():
    with pytest.raises(ImproperlyConfigured, match="client_factory"):
        MongoBackend(uri=FAKE, client_factory="no.such.Client")


# --- documents ------------------------------------------------------------------------------


def test_events_are_documents_keyed_by_event_id_with_a_date_timestamp(mongo):
    event = make_event()
    mongo.write_batch([event])
    document = mongo.collection().find_one()
    assert document["_id"] == event["event_id"] and "event_id" not in document
    assert document["timestamp"].year >= 2025


def test_a_batch_written_twice_is_stored_once(mongo):
    batch = [make_event() for _ in range(5)]
    mongo.write_batch(batch)
    mongo.write_batch([*batch, make_event()])  # real duplicate-key errors (11000), ignored
    assert len(stored_ids(mongo)) == 6


POISON = {
    "a NUL in a key": {"extra": {"bad\x00key": 1}},
    "an integer beyond 64 bits": {"extra": {"n": 2**70}},
    "a document over 16 MiB": {"error": "x" * (17 * 1024 * 1024)},
    "a timestamp that is not a time": {"timestamp": "yesterday"},
}


@pytest.mark.parametrize("poison", POISON.values(), ids=POISON.keys())
def test_an_event_mongodb_cannot_take_is_refused_alone(mongo, poison):
    good = [make_event() for _ in range(4)]
    bad = {**make_event(), **poison}
    with pytest.raises(EventsRefused) as refused:
        mongo.write_batch([*good[:2], bad, *good[2:]])
    assert list(refused.value.refused) == [bad["event_id"]]
    assert refused.value.stored_ids == set(ids(good))
    assert stored_ids(mongo) == ids(good)


def test_a_batch_half_written_before_a_failure_says_which_were_stored(fake, flaky_mongo):
    # A primary stepping down mid-batch (NotWritablePrimary): only a fake does it on demand.
    batch = [make_event() for _ in range(6)]
    flaky_mongo.HALF_INSERTS[FAKE] = 10107
    with pytest.raises(PartialWrite) as failure:
        fake.write_batch(batch)
    assert not isinstance(failure.value, EventsRefused)
    assert isinstance(failure.value.__cause__, BulkWriteError)
    assert sorted(failure.value.stored_ids) == stored_ids(fake) and len(stored_ids(fake)) == 3
    flaky_mongo.HALF_INSERTS.clear()
    fake.write_batch(batch)
    assert stored_ids(fake) == ids(batch)


def test_a_document_refused_by_the_server_is_refused_alone(fake, flaky_mongo):
    flaky_mongo.HALF_INSERTS[FAKE] = 121  # DocumentValidationFailure: about the document
    batch = [make_event() for _ in range(4)]
    with pytest.raises(EventsRefused) as refused:
        fake.write_batch(batch)
    assert set(refused.value.refused) == set(ids(batch[2:]))
    assert refused.value.stored_ids == set(ids(batch[:2]))


# --- indexes and retention ------------------------------------------------------------------


def index_keys(backend: MongoBackend) -> dict[str, list]:
    return {name: spec["key"] for name, spec in backend.collection().index_information().items()}


def test_the_indexes_the_queries_need_are_created_once_and_idempotently(mongo, mongo_server):
    mongo.write_batch([make_event()])
    keys = index_keys(mongo)
    assert keys["timestamp_1"] == [("timestamp", 1)]
    for field in ("soeid", "project_name", "model", "event_type"):
        assert keys[f"{field}_1_timestamp_1"] == [(field, 1), ("timestamp", 1)]
    again = MongoBackend(uri=mongo_server.uri, db_name=mongo.db_name)  # another process
    again.write_batch([make_event()])
    assert index_keys(again) == keys
    again.close()


def winning_index(explained: dict) -> str | None:
    """The index a query plan reads (None: a collection scan)."""
    plan = explained.get("queryPlanner") or explained["stages"][0]["$cursor"]["queryPlanner"]
    stage = plan["winningPlan"]
    while stage:
        if stage.get("stage") == "IXSCAN":
            return stage["indexName"]
        stage = stage.get("inputStage")
    return None


@pytest.mark.parametrize(
    "filters, index",
    [
        (EventFilter(soeid="u3"), "soeid_1_timestamp_1"),
        (EventFilter(project="p1", since=datetime(2025, 1, 1)),
         "project_name_1_timestamp_1"),
        (EventFilter(model="gemini"), "model_1_timestamp_1"),
        (EventFilter(since=datetime(2025, 1, 2)), "timestamp_1"),
    ],
)  # fmt: skip
def test_usage_queries_use_the_indexes(mongo, filters, index):
    from telemetry.backends.mongo import to_query, usage_pipeline

    mongo.write_batch(
        [
            make_event(soeid=f"u{n % 20}", project_name=f"p{n % 5}", model="gemini")
            for n in range(200)
        ]
    )
    pipeline = [{"$match": to_query(filters)}, *usage_pipeline(["day"])]
    collection = mongo.collection()
    command = {"aggregate": collection.name, "pipeline": pipeline, "cursor": {}}
    explained = collection.database.command("explain", command, verbosity="queryPlanner")
    assert winning_index(explained) == index
    assert winning_index(collection.find(to_query(filters)).explain()) == index


def test_retention_is_a_ttl_index_that_follows_the_setting(mongo_server, mongo_db):
    def ttl(days):
        backend = MongoBackend(uri=mongo_server.uri, db_name=mongo_db, retention_days=days)
        backend.write_batch([make_event()])
        spec = backend.collection().index_information()["timestamp_1"]
        backend.close()
        return spec.get("expireAfterSeconds")

    assert ttl(None) is None
    assert ttl(30) == 30 * 86400
    assert ttl(7) == 7 * 86400  # changed in place
    assert ttl(None) is None  # and back to keeping events forever


# --- write concern --------------------------------------------------------------------------


def test_journaled_writes_can_be_required(mongo_server, mongo_db):
    backend = MongoBackend(uri=mongo_server.uri, db_name=mongo_db, journal=True)
    backend.write_batch([make_event()])
    assert backend.collection().write_concern.document == {"j": True}
    backend.close()


def test_the_uris_write_concern_is_kept_unless_set_here(mongo_server, mongo_db):
    uri = f"{mongo_server.uri}/?journal=true&w=1"
    backend = MongoBackend(uri=uri, db_name=mongo_db)
    assert backend.collection().write_concern.document == {"j": True, "w": 1}
    backend.close()
    backend = MongoBackend(uri=uri, db_name=mongo_db, write_concern="majority")
    assert backend.collection().write_concern.document == {"j": True, "w": "majority"}
    backend.close()


# --- a server that goes away ----------------------------------------------------------------


def test_a_killed_server_fails_writes_quickly_and_is_used_again_once_restarted(mongo_servers):
    (server,) = mongo_servers(1)
    backend = MongoBackend(uri=server.uri, server_selection_timeout_ms=500)
    first = [make_event() for _ in range(3)]
    backend.write_batch(first)
    server.kill()
    # ConnectionFailure when the client has seen the server go (nothing sent); UncertainWrite
    # when the write went out on a pooled connection first and the answer was lost (which of
    # the two depends on how fast the client's monitor notices: under load, either).
    with pytest.raises((ConnectionFailure, UncertainWrite)):
        backend.write_batch([make_event()])
    assert backend.health()["ok"] is False
    server.start()  # same port, same data directory
    # The client finds it again at its next look at the server, not at once (pymongo waits at
    # least 500 ms between two looks, as long as this backend's server selection timeout), so
    # the first write after the restart could still fail: the guarantee is "used again".
    assert any(backend.health()["ok"] for _ in range(20))
    second = [make_event() for _ in range(3)]
    backend.write_batch(second)
    assert backend.health() == {"ok": True, "error": None}
    assert stored_ids(backend) == ids(first + second)  # acknowledged before the kill: kept
    backend.close()


# --- percentiles ----------------------------------------------------------------------------


def test_usage_percentiles_on_the_real_server_use_percentile(mongo):
    mongo.write_batch([make_event(latency_ms=v) for v in (5.0, 1.0, 3.0)])
    (row,) = mongo.aggregate_usage([])
    assert (row["p50_latency_ms"], row["p95_latency_ms"]) == (3.0, 5.0)
    assert mongo._percentile_operator is True  # the server has $percentile (MongoDB >= 7)


def test_usage_falls_back_when_the_server_has_no_percentile_operator(fake):
    fake.write_batch([make_event(latency_ms=v) for v in (5.0, 1.0, 3.0)])
    (row,) = fake.aggregate_usage([])
    # mongomock has no $percentile (like MongoDB < 7.0): the sorted-array pipeline answers.
    assert (row["p50_latency_ms"], row["p95_latency_ms"]) == (3.0, 5.0)
    assert fake._percentile_operator is False
