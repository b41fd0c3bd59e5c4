"""The failover chain: order, cool-downs, returns, refusals; with a clock the test turns.

The stores are real (CSV files, and real MongoDB-protocol servers that the tests kill);
only time is the test's, so "once per interval" is counted, never timed.
"""

import pytest

from telemetry import rollups
from telemetry.backends.base import EventsRefused
from telemetry.backends.chain import ChainStore, StoresUnavailable
from telemetry.backends.csv import CSVBackend
from telemetry.backends.mongo import MongoBackend
from telemetry.doubts import DoubtLedger
from telemetry.query import EventFilter
from tests.telemetry.conftest import make_event
from tests.telemetry.fakes import AnswerLost


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting(MongoBackend):
    """A MongoBackend that counts the writes it is asked for."""

    def __init__(self, **options):
        super().__init__(**options)
        self.attempts = 0

    def write_batch(self, events):
        self.attempts += 1
        super().write_batch(events)


def make_chain(tmp_path, primary_uri: str, backup_uri: str, db_names=("dgen_chain",) * 2):
    options = {"server_selection_timeout_ms": 300}
    primary = Counting(uri=primary_uri, db_name=db_names[0], **options)
    backup = Counting(uri=backup_uri, db_name=db_names[1], **options)
    csv = CSVBackend(tmp_path / "csv")
    clock = Clock()
    chain = ChainStore([("primary", primary), ("backup", backup), ("csv", csv)], 30.0, clock)
    return chain, clock


@pytest.fixture
def rig(mongo_servers, tmp_path):
    """A chain over two servers of its own, which the test may kill."""
    primary_server, backup_server = mongo_servers(2)
    chain, clock = make_chain(tmp_path, primary_server.uri, backup_server.uri)
    yield chain, clock, primary_server, backup_server
    chain.close()


@pytest.fixture
def shared(mongo_server, mongo_db, tmp_path):
    """A chain whose primary and backup are two databases of the shared server."""
    uri = mongo_server.uri
    chain, clock = make_chain(tmp_path, uri, uri, (mongo_db, mongo_db + "_backup"))
    yield chain
    with mongo_server.client() as client:
        client.drop_database(mongo_db + "_backup")
    chain.close()


def stored(store) -> set[str]:
    return {event["event_id"] for event in store.iter_events()}


def batch(n: int = 3) -> list[dict]:
    return [make_event() for _ in range(n)]


def states(chain: ChainStore) -> list[tuple[str, str, bool]]:
    return [(s["alias"], s["state"], s["active"]) for s in chain.describe()]


def test_writes_go_to_the_first_store(shared):
    chain = shared
    events = batch()
    chain.write_batch(events)
    assert stored(chain.links[0].store) == {e["event_id"] for e in events}
    assert chain.status == "connected"
    assert states(chain) == [("primary", "up", True), ("backup", "untried", False),
                             ("csv", "untried", False)]  # fmt: skip


def test_a_dead_primary_is_retried_once_per_interval_not_before_every_write(rig):
    chain, clock, primary_server, _ = rig
    primary, backup = chain.links[0].store, chain.links[1].store
    chain.write_batch(batch())
    primary_server.kill()
    for _ in range(10):  # 10 batches within one interval
        chain.write_batch(batch())
        clock.now += 2
    assert primary.attempts == 2  # the first write, and the one that found it dead
    assert chain.status == "backup" and len(stored(backup)) == 30
    clock.now += 30  # the cool-down is over: one more try, then on the backup again
    for _ in range(5):
        chain.write_batch(batch())
    assert primary.attempts == 3 and len(stored(backup)) == 45


def test_the_chain_returns_to_the_primary_once_it_is_back(rig):
    chain, clock, primary_server, _ = rig
    primary_server.kill()
    chain.write_batch(batch())
    assert chain.status == "backup"
    primary_server.start()
    chain.write_batch(batch())
    assert chain.status == "backup"  # not before its cool-down ends
    clock.now += 31
    back = batch()
    chain.write_batch(back)
    assert chain.status == "connected"
    assert stored(chain.links[0].store) == {e["event_id"] for e in back}


def test_with_both_servers_down_the_csv_fallback_takes_the_events(rig):
    chain, clock, primary_server, backup_server = rig
    primary_server.kill()
    backup_server.kill()
    events = batch()
    chain.write_batch(events)
    assert chain.status == "csv_fallback"
    assert stored(chain.links[2].store) == {e["event_id"] for e in events}
    assert states(chain) == [("primary", "down", False), ("backup", "down", False),
                             ("csv", "up", True)]  # fmt: skip


def test_the_last_store_is_tried_whenever_nothing_else_took_the_batch(tmp_path):
    blocked = tmp_path / "csv"
    blocked.write_text("a file where the directory should be")
    clock = Clock()
    chain = ChainStore([("csv", CSVBackend(blocked))], 30.0, clock)
    with pytest.raises(StoresUnavailable):
        chain.write_batch(batch())
    assert chain.status == "unavailable"
    blocked.unlink()
    chain.write_batch(batch())  # no wait for a cool-down: it is all there is
    assert chain.status == "connected"


def test_refused_events_are_named_with_the_store_that_refused_them(shared):
    chain = shared
    good, bad = batch(), {**make_event(), "extra": {"nul\x00key": 1}}
    with pytest.raises(EventsRefused) as refused:
        chain.write_batch([*good, bad])
    assert refused.value.store == "primary" and list(refused.value.refused) == [bad["event_id"]]
    assert refused.value.stored_ids == {e["event_id"] for e in good}
    assert chain.status == "connected"  # a refusal is about the event, not the store


def test_an_idle_probe_returns_to_a_healthy_primary_without_traffic(rig):
    chain, clock, primary_server, _ = rig
    primary_server.kill()
    chain.write_batch(batch())
    primary_server.start()
    chain.probe(idle=True)
    assert chain.status == "backup"  # cooling down: not even asked
    clock.now += 31
    chain.probe(idle=False)
    assert chain.status == "backup"  # events wait: only a write says it takes them
    chain.probe(idle=True)
    assert chain.status == "connected"


def ids(events: list[dict]) -> set[str]:
    return {event["event_id"] for event in events}


@pytest.fixture
def lossy(mongo_server, mongo_db, tmp_path):
    """lossy(copy): a chain whose primary loses the answer to its first write, over the shared
    server, with a ledger of doubts in tmp_path/spool; then `copy`: "backup" or "csv"."""
    made = []

    def make(copy: str = "backup", primary=AnswerLost) -> tuple[ChainStore, Clock]:
        first = primary(uri=mongo_server.uri, db_name=mongo_db)
        if copy == "backup":
            other = MongoBackend(uri=mongo_server.uri, db_name=mongo_db + "_copy")
        else:
            other = CSVBackend(tmp_path / "csv")
        clock = Clock()
        chain = ChainStore([("primary", first), (copy, other)], 30.0, clock)
        chain.keep_doubts_in(DoubtLedger(tmp_path / "spool"))
        made.append(chain)
        return chain, clock

    yield make
    with mongo_server.client() as client:
        client.drop_database(mongo_db + "_copy")
    for chain in made:
        chain.close()


@pytest.mark.parametrize("copy", ["backup", "csv"])
def test_a_write_whose_answer_was_lost_is_stored_once_when_the_store_returns(lossy, copy):
    chain, clock = lossy(copy)
    primary, other = chain.links[0].store, chain.links[1].store
    lost = batch()
    chain.write_batch(lost)  # in the primary, and (not knowing it) in the other store too
    assert stored(primary) == stored(other) == ids(lost)
    clock.now += 31
    chain.write_batch(batch())  # the primary takes writes again: the doubt is settled
    in_both = stored(primary) & stored(other)
    assert in_both == set() and ids(lost) <= stored(primary) | stored(other)
    # Removed from the backup; a CSV file cannot delete a row, so from the primary instead
    # (replay_telemetry brings them back from the CSV fallback, once).
    assert (ids(lost) <= stored(primary)) == (copy == "backup")
    # Each store's rollups count what it holds: the copy removed, and only that.
    for store in (primary, other):
        assert rollups.verify(store, EventFilter())[1] == []
    assert len(chain.doubts) == 0


def test_a_doubt_outlives_the_chain_that_had_it(lossy, tmp_path):
    chain, _ = lossy()
    lost = batch()
    chain.write_batch(lost)  # in both; the primary cools down for 30 s
    chain.doubts.close()  # the process ends before it asks the primary again
    heir, _ = lossy(primary=MongoBackend)  # the next process, on the same spool
    assert heir.doubts.adopt_orphans() == 1
    heir.write_batch(batch())  # its first write goes to the primary, which answers
    primary, backup = heir.links[0].store, heir.links[1].store
    assert ids(lost) <= stored(primary) and stored(backup) & ids(lost) == set()
    assert list((tmp_path / "spool").glob("*.doubts")) == []


def test_a_lost_answer_stays_in_doubt_when_no_store_takes_the_batch(lossy, tmp_path):
    chain, clock = lossy("csv")
    (tmp_path / "csv").write_text("a file where the directory should be")
    lost = batch()
    with pytest.raises(StoresUnavailable):
        chain.write_batch(lost)  # the primary stored it unanswered; the CSV store failed
    (tmp_path / "csv").unlink()
    chain.write_batch(lost)  # the spool's retry: the primary cools down, the CSV store takes it
    clock.now += 31
    chain.write_batch(batch())
    primary, csv = chain.links[0].store, chain.links[1].store
    assert stored(primary) & stored(csv) == set() and ids(lost) <= stored(csv)


def test_a_store_that_cannot_be_asked_is_in_doubt_until_it_answers(rig):
    """The recovery of a dead process's segment asks which events are stored already: a
    store that is down may hold some (written just before the process died)."""
    chain, clock, primary_server, _ = rig
    primary, backup = chain.links[0].store, chain.links[1].store
    orphaned = batch()
    primary.write_batch(orphaned)  # by a process that died before saving its checkpoint
    primary_server.kill()
    chain.write_batch(batch())  # finds the primary dead: it cools down
    assert chain.existing_ids(ids(orphaned)) == set()  # the backup answers; not the primary
    doubts = len(chain.doubts)
    assert chain.existing_ids(ids(orphaned)) == set() and len(chain.doubts) == doubts
    chain.write_batch(orphaned)  # so the recovery stores them again: in the backup
    primary_server.start()
    clock.now += 31
    chain.write_batch(batch())
    assert ids(orphaned) <= stored(primary) and ids(orphaned) & stored(backup) == set()
    assert len(chain.doubts) == 0
