"""The writer with its real thread, real spool files and real stores (Mongo: the fake here;
the real server in test_chain_on_a_real_server.py and tests/reliability)."""

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from telemetry import writer as writer_module
from telemetry.backends.chain import ChainStore
from telemetry.backends.csv import CSVBackend
from telemetry.backends.mongo import MongoBackend
from telemetry.spool import Segment
from telemetry.writer import TelemetryWriter
from tests.telemetry.conftest import FLAKY_CLIENT, make_event
from tests.telemetry.fakes import AnswerLost, server

ROOT = Path(__file__).resolve().parents[2]
PRIMARY, BACKUP = "mongodb://primary:27017", "mongodb://backup:27017"


def chain(*stores, retry_interval: float = 0.05) -> ChainStore:
    names = ["primary", "backup", "csv"] if len(stores) == 3 else ["primary", "csv"]
    return ChainStore(list(zip(names, stores, strict=False)), retry_interval)


def fake_mongo(uri: str = PRIMARY) -> MongoBackend:
    return MongoBackend(uri=uri, client_factory=FLAKY_CLIENT)


@pytest.fixture
def make_writer(tmp_path):
    writers = []

    def make(*stores, start=True, retry_interval=0.05, **options) -> TelemetryWriter:
        options = {"batch_size": 10, "flush_interval": 0.01, "recovery_interval": 0.05,
                   **options}  # fmt: skip
        store = chain(*stores, retry_interval=retry_interval)
        writer = TelemetryWriter(store=store, spool_dir=tmp_path / "spool", **options)
        writers.append(writer)
        if start:
            writer.start()
        return writer

    yield make
    for writer in writers:
        writer.shutdown(timeout=5)


def eventually(condition, attempts: int = 500) -> bool:
    """Poll a condition the writer thread will make true; bounded, never timed."""
    for _ in range(attempts):
        if condition():
            return True
        time.sleep(0.01)
    return False


def mongo_ids(uri: str) -> set[str]:
    return {doc["_id"] for doc in server(uri).dgen_db.telemetry.find()}


def csv_ids(store: CSVBackend) -> list[str]:
    return [event["event_id"] for event in store.iter_events()]


def segments(tmp_path) -> list[Path]:
    return sorted((tmp_path / "spool").glob("*.spool"))


def test_the_thread_ships_what_is_emitted(make_writer, tmp_path):
    store = CSVBackend(tmp_path / "csv")
    writer = make_writer(store)
    events = [make_event() for _ in range(25)]
    for event in events:
        writer.emit(event)
    assert eventually(lambda: writer.pending() == 0)
    assert csv_ids(store) == [e["event_id"] for e in events]
    status = writer.status()
    assert (status["status"], status["spooled"], status["stored"]) == ("connected", 0, 25)
    assert status["last_write"] and status["last_error"] is None


def test_mongo_down_at_start_then_up_loses_and_duplicates_nothing(
    make_writer, tmp_path, flaky_mongo
):
    flaky_mongo.down(PRIMARY)
    mongo = fake_mongo()
    csv = CSVBackend(tmp_path / "csv")
    writer = make_writer(mongo, csv)
    during = [make_event() for _ in range(30)]
    for event in during:
        writer.emit(event)
    assert eventually(lambda: writer.pending() == 0)
    assert writer.status()["status"] == "csv_fallback"
    assert "connection refused" in writer.status()["last_error"]

    flaky_mongo.up(PRIMARY)
    assert eventually(lambda: writer.status()["status"] == "connected")  # probed by itself
    after = [make_event() for _ in range(30)]
    for event in after:
        writer.emit(event)
    assert eventually(lambda: writer.pending() == 0)

    assert sorted(csv_ids(csv)) == sorted(e["event_id"] for e in during)
    assert mongo_ids(PRIMARY) == {e["event_id"] for e in after}


def test_mongo_lost_mid_run_and_flapping_keeps_every_event_once(make_writer, tmp_path, flaky_mongo):
    mongo = fake_mongo()
    csv = CSVBackend(tmp_path / "csv")
    writer = make_writer(mongo, csv)
    emitted = []
    for round_ in range(6):
        (flaky_mongo.down if round_ % 2 else flaky_mongo.up)(PRIMARY)
        for _ in range(15):
            emitted.append(make_event())
            writer.emit(emitted[-1])
        assert eventually(lambda: writer.pending() == 0)
    stored = [*csv_ids(csv), *mongo_ids(PRIMARY)]
    assert sorted(stored) == sorted(e["event_id"] for e in emitted)


def test_a_batch_partly_stored_in_mongo_sends_only_the_rest_to_the_fallback(
    make_writer, tmp_path, flaky_mongo
):
    # A BulkWriteError after some inserts (a primary stepping down): found by
    # tests/reliability, where the stored half also landed in the CSV fallback.
    flaky_mongo.HALF_INSERTS[PRIMARY] = 10107  # NotWritablePrimary
    mongo = fake_mongo()
    csv = CSVBackend(tmp_path / "csv")
    writer = make_writer(mongo, csv, start=False)
    events = [make_event() for _ in range(10)]
    for event in events:
        writer.emit(event)
    assert writer.flush(timeout=5) is True
    in_mongo, in_csv = mongo_ids(PRIMARY), set(csv_ids(csv))
    assert len(in_mongo) == 5 and not in_mongo & in_csv
    assert in_mongo | in_csv == {event["event_id"] for event in events}


def test_on_a_backup_the_status_says_backup(make_writer, tmp_path, flaky_mongo):
    flaky_mongo.down(PRIMARY)
    writer = make_writer(fake_mongo(), fake_mongo(BACKUP), CSVBackend(tmp_path / "csv"))
    writer.emit(make_event())
    assert eventually(lambda: writer.pending() == 0)
    assert writer.status()["status"] == "backup"
    assert len(mongo_ids(BACKUP)) == 1


def test_with_no_store_events_wait_in_the_spool_until_one_returns(make_writer, tmp_path):
    blocker = tmp_path / "csv"
    blocker.write_text("a file where the directory should be")
    writer = make_writer(CSVBackend(blocker), start=False)
    for _ in range(5):
        writer.emit(make_event())
    assert writer.flush(timeout=5) is False
    assert writer.status()["status"] == "unavailable" and writer.status()["spooled"] == 5
    blocker.unlink()
    assert writer.flush(timeout=5) is True
    assert len(csv_ids(CSVBackend(blocker))) == 5


class FullDisk(CSVBackend):
    """Opens fine (its health is ok), but no write fits while `full`."""

    full = True

    def write_batch(self, events):
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().write_batch(events)


def test_a_store_that_answers_but_cannot_write_never_looks_connected(make_writer, tmp_path):
    # Found by tests/reliability (disk full): the health probe said "connected" between
    # two failed writes.
    store = FullDisk(tmp_path / "csv")
    writer = make_writer(store, start=False, retry_interval=0)
    writer.emit(make_event())
    assert writer.flush(timeout=5) is False
    writer.store.probe(idle=writer.pending() == 0)
    assert writer.status()["status"] == "unavailable"
    store.full = False
    assert writer.flush(timeout=5) is True
    assert writer.status()["status"] == "connected"


def test_an_unwritable_spool_holds_events_in_bounded_memory(make_writer, tmp_path):
    (tmp_path / "spool").write_text("a file where the spool directory should be")
    store = CSVBackend(tmp_path / "csv")
    writer = make_writer(store, start=False, max_overflow=3)
    for _ in range(5):
        writer.emit(make_event())
    assert writer.status()["spooled"] == 3 and writer.status()["dropped"] == 2
    assert writer.flush(timeout=5) is True
    assert len(csv_ids(store)) == 3


def test_segments_rotate_and_shipped_ones_are_deleted(make_writer, tmp_path):
    store = CSVBackend(tmp_path / "csv")
    writer = make_writer(store, start=False, segment_bytes=2000)
    for _ in range(4):
        for _ in range(10):
            writer.emit(make_event())
        assert writer.flush(timeout=5)
    assert len(segments(tmp_path)) == 1
    assert len(csv_ids(store)) == 40


def test_shutdown_stores_everything_and_removes_its_spool(make_writer, tmp_path):
    store = CSVBackend(tmp_path / "csv")
    writer = make_writer(store, flush_interval=60)  # the thread will not get to it
    for _ in range(7):
        writer.emit(make_event())
    assert writer.shutdown(timeout=5) is True
    assert len(csv_ids(store)) == 7
    assert list((tmp_path / "spool").iterdir()) == []


def test_shutdown_with_no_store_leaves_the_spool_for_the_next_process(make_writer, tmp_path):
    blocker = tmp_path / "csv"
    blocker.write_text("not a directory")
    first = make_writer(CSVBackend(blocker), start=False)
    for _ in range(4):
        first.emit(make_event())
    assert first.shutdown(timeout=5) is False
    blocker.unlink()
    successor = make_writer(CSVBackend(blocker), start=False)
    assert successor.flush(timeout=5)
    assert len(csv_ids(CSVBackend(blocker))) == 4 and successor.status()["recovered"] == 4
    assert segments(tmp_path) == []


@pytest.mark.parametrize("primary_back_at_exit", [True, False])
def test_a_lost_answer_is_settled_at_exit_or_by_the_next_process(
    make_writer, tmp_path, flaky_mongo, primary_back_at_exit
):
    csv = CSVBackend(tmp_path / "csv")
    primary = AnswerLost(uri=PRIMARY, client_factory=FLAKY_CLIENT)
    first = make_writer(primary, fake_mongo(BACKUP), csv, retry_interval=30)
    events = [make_event() for _ in range(5)]
    for event in events:
        first.emit(event)
    assert eventually(lambda: first.pending() == 0)
    ids = {event["event_id"] for event in events}
    # In both, and the primary is not asked again for 30 s.
    assert mongo_ids(PRIMARY) == mongo_ids(BACKUP) == ids
    assert first.status()["doubts"] == 1
    if not primary_back_at_exit:
        flaky_mongo.down(PRIMARY)
    first.shutdown(timeout=5)  # at exit, every store is asked, cool-down or not
    if not primary_back_at_exit:
        assert len(ledgers(tmp_path)) == 1  # left in the spool for the next process
        flaky_mongo.up(PRIMARY)
        make_writer(fake_mongo(), fake_mongo(BACKUP), csv, retry_interval=30)
    assert eventually(lambda: ledgers(tmp_path) == [])
    assert (mongo_ids(PRIMARY), mongo_ids(BACKUP)) == (ids, set())


def ledgers(tmp_path) -> list[Path]:
    return sorted((tmp_path / "spool").glob("*.doubts"))


CRASH_AFTER_STORING_BEFORE_CHECKPOINT = """
import os, signal, sys
from pathlib import Path
from telemetry.backends.csv import CSVBackend
from telemetry.schema import build_event
from telemetry.backends.chain import ChainStore
from telemetry.writer import TelemetryWriter
csv_dir, spool_dir = Path(sys.argv[1]), Path(sys.argv[2])
writer = TelemetryWriter(store=ChainStore([("csv", CSVBackend(csv_dir))]), spool_dir=spool_dir)
for n in range(25):
    writer.emit(build_event(request_id=str(n)))
batch = writer.spool.current.read(10)
CSVBackend(csv_dir).write_batch(batch.events)  # stored ... and killed before the checkpoint
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_process_spool_is_recovered_exactly_once(make_writer, tmp_path):
    csv_dir, spool_dir = tmp_path / "csv", tmp_path / "spool"
    script = CRASH_AFTER_STORING_BEFORE_CHECKPOINT
    crashed = subprocess.run([sys.executable, "-c", script, csv_dir, spool_dir], cwd=ROOT)
    assert crashed.returncode == -9
    assert len(csv_ids(CSVBackend(csv_dir))) == 10
    survivor = make_writer(CSVBackend(csv_dir), batch_size=4)  # smaller batches than the dead
    assert eventually(lambda: survivor.status()["recovered"] == 15)
    request_ids = sorted(int(e["request_id"]) for e in CSVBackend(csv_dir).iter_events())
    assert request_ids == list(range(25))
    assert eventually(lambda: segments(tmp_path) == [])


def test_a_forked_child_starts_its_own_writer_and_leaves_the_parents_alone(recorded):
    writer_module.emit(make_event())
    parent = writer_module.get_writer()
    parent_segment = parent.spool.current.path
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        inherited_dropped = writer_module._writer is None
        parent_lock_held = Segment.adopt(parent_segment) is None
        os._exit(0 if inherited_dropped and parent_lock_held else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert Segment.adopt(parent_segment) is None  # still ours after the child's exit
    assert len(recorded.events()) == 1
