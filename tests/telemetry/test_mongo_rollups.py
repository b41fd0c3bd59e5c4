"""The MongoDB store's rollups (telemetry.backends.mongo_rollups): what they count, when
they are trusted, and a write whose answer was lost."""

import pytest

from telemetry import rollups
from telemetry.backends.base import UncertainWrite
from telemetry.backends.mongo import MongoBackend, to_document
from telemetry.query import EventFilter
from telemetry.selectors import UsageReader
from tests.telemetry.conftest import FLAKY_CLIENT
from tests.telemetry.test_rollup_stores import agrees, requests
from tests.telemetry.test_rollups import traffic

EVERYTHING = EventFilter()
URI = "mongodb://rollups-unit"


@pytest.fixture
def mongo(flaky_mongo):
    backend = MongoBackend(uri=URI, client_factory=FLAKY_CLIENT)
    yield backend
    backend.close()


def test_events_stored_before_rollups_existed_are_counted_once_rebuilt(flaky_mongo):
    events = traffic(80)
    flaky_mongo.server(URI)["dgen_db"]["telemetry"].insert_many(map(to_document, events))
    mongo = MongoBackend(uri=URI, client_factory=FLAKY_CLIENT)
    mongo.write_batch(traffic(20, seed=5))
    # The rollups would miss the 80: reports count the events instead.
    assert mongo.rollup_rows("people", EVERYTHING) is None
    exact = mongo.aggregate_usage(("soeid",), EVERYTHING)
    assert UsageReader(backend=mongo, filters=EVERYTHING).rows(("soeid",)) == exact
    mongo.rebuild_rollups()
    assert agrees(mongo) == 100 == requests(mongo)


def test_a_store_used_first_when_empty_counts_from_its_first_event(mongo):
    mongo.write_batch(traffic(10))
    assert mongo.rollup_rows("people", EVERYTHING) is not None
    assert agrees(mongo) == 10


def test_a_write_whose_answer_was_lost_is_counted_once_the_server_answers(mongo, flaky_mongo):
    mongo.write_batch(traffic(10, seed=1))
    flaky_mongo.LOST_ANSWERS.add(URI)
    lost = traffic(15, seed=2)
    with pytest.raises(UncertainWrite):
        mongo.write_batch(lost)  # stored, but the store cannot know it
    assert requests(mongo) == 10
    assert mongo.existing_ids([lost[0]["event_id"]]) == {lost[0]["event_id"]}
    assert agrees(mongo) == 25 == requests(mongo)
    mongo.write_batch(traffic(5, seed=3))
    assert agrees(mongo) == 30  # counted once, not again


def test_rollups_expire_a_day_after_the_events_they_count(mongo_server, mongo_db):
    def ttl(days):
        store = MongoBackend(uri=mongo_server.uri, db_name=mongo_db, retention_days=days)
        indexes = store.rollups_collection().index_information().values()
        store.close()
        return [i.get("expireAfterSeconds") for i in indexes if i["key"] == [("day", 1)]]

    assert ttl(30) == [31 * 86400]
    assert ttl(7) == [8 * 86400]  # changed in place


def test_rollup_rows_refuse_a_filter_the_cube_cannot_apply(mongo):
    mongo.write_batch(traffic(5))
    with pytest.raises(ValueError, match="cannot filter by"):
        mongo.rollup_rows("models", EventFilter(soeid="alice"))
    assert rollups.cube_for(["soeid"]) == "people"
