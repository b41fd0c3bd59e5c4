"""The CSV store's rollups (telemetry.backends.csv_rollups): they follow the files, and a
writer that dies at the wrong moment costs nothing but a catch-up."""

import multiprocessing
import os
import sqlite3
from datetime import UTC, datetime, timedelta

from telemetry.backends.csv import CSVBackend
from telemetry.query import EventFilter
from telemetry.schema import csv_rows
from telemetry.selectors import UsageReader
from tests.telemetry import processes
from tests.telemetry.conftest import make_event
from tests.telemetry.test_rollup_stores import agrees, requests
from tests.telemetry.test_rollups import traffic

EVERYTHING = EventFilter()


def counts(store: CSVBackend) -> dict[int, tuple[int, int]]:
    """inode -> (bytes counted, file size), read straight from the database."""
    with sqlite3.connect(store.directory / "rollups.sqlite3") as db:
        rolled = dict(db.execute("SELECT inode, rolled FROM files"))
    sizes = {path.stat().st_ino: path.stat().st_size for path in store.files()}
    return {inode: (rolled.get(inode), size) for inode, size in sizes.items()}


def run(target, *args) -> int:
    job = multiprocessing.get_context("spawn").Process(target=target, args=args)
    job.start()
    job.join(60)
    return job.exitcode


def test_writer_processes_count_their_own_batches_as_they_race(tmp_path):
    workers, batches, size = 4, 15, 20
    processes.race_writers(str(tmp_path), 30_000, workers, batches, size)
    store = CSVBackend(tmp_path)
    assert len(store.files()) > 1  # rotation happened while they raced
    # Every byte of every file was counted by its writer, under the file's lock.
    assert all(rolled == size for rolled, size in counts(store).values()), counts(store)
    assert agrees(store) == workers * batches * size


def test_a_writer_killed_between_its_append_and_its_count_costs_a_catch_up(tmp_path):
    assert run(processes.die_between_append_and_rollups, str(tmp_path), 30) == 9
    store = CSVBackend(tmp_path)
    ((rolled, size),) = counts(store).values()
    assert rolled < size  # the second batch is in the file, not in the rollups
    assert requests(store) == 60 and requests(store, soeid="dying") == 30
    assert agrees(store) == 60
    ((rolled, size),) = counts(store).values()
    assert rolled == size


def test_rows_follow_a_rotated_file_without_a_recount(tmp_path):
    store = CSVBackend(tmp_path)
    store.write_batch(traffic(50, seed=1))
    before = counts(store)
    rotated = store.rotate()
    store.write_batch(traffic(30, seed=2))
    after = counts(store)
    assert after[rotated.stat().st_ino] == before[rotated.stat().st_ino]
    assert agrees(store) == 80


def test_files_that_leave_the_store_take_their_rows_with_them(tmp_path):
    store = CSVBackend(tmp_path)
    store.write_batch(traffic(40, seed=1))
    old = store.rotate()
    store.write_batch(traffic(25, seed=2))
    assert requests(store) == 65
    past = (datetime.now(UTC) - timedelta(days=10)).timestamp()
    os.utime(old, (past, past))
    assert store.prune(datetime.now(UTC) - timedelta(days=5)) == [old]
    assert agrees(store) == 25 == requests(store)
    with sqlite3.connect(tmp_path / "rollups.sqlite3") as db:  # and the database forgot it
        assert db.execute("SELECT count(*), count(DISTINCT id) FROM files").fetchone() == (1, 1)
        assert db.execute("SELECT count(DISTINCT file) FROM rollups").fetchone() == (1,)


def test_files_the_rollups_never_saw_are_counted_when_read(tmp_path):
    # Files from before rollups existed, or copied in from another machine.
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "telemetry-20250101T000000000000.csv").write_text(
        csv_rows(traffic(30, seed=1), header=True)
    )
    store = CSVBackend(tmp_path)
    store.write_batch(traffic(20, seed=2))
    assert agrees(store) == 50 == requests(store)


def test_a_deleted_or_outdated_rollups_file_is_rebuilt_when_read(tmp_path):
    store = CSVBackend(tmp_path)
    store.write_batch(traffic(40))
    (tmp_path / "rollups.sqlite3").unlink()
    assert agrees(store) == 40
    with sqlite3.connect(tmp_path / "rollups.sqlite3") as db:
        db.execute("UPDATE meta SET value = 'an older definition' WHERE name = 'version'")
    assert agrees(store) == 40


def test_a_file_that_shrank_or_was_replaced_is_counted_afresh(tmp_path):
    store = CSVBackend(tmp_path)
    events = traffic(30)
    store.write_batch(events)
    store.path.write_text(csv_rows(events[:10], header=True))  # edited by hand
    assert agrees(store) == 10
    store.path.unlink()
    store.write_batch(traffic(5, seed=9))  # a new telemetry.csv, maybe on the old inode
    assert agrees(store) == 5 == requests(store)


def test_without_usable_rollups_writes_go_on_and_reports_count_the_events(tmp_path):
    (tmp_path / "rollups.sqlite3").mkdir(parents=True)  # no database can open there
    store = CSVBackend(tmp_path)
    events = traffic(60)
    store.write_batch(events)
    assert sum(1 for _ in store.iter_events()) == 60
    assert store.rollup_rows("people", EVERYTHING) is None
    exact = store.aggregate_usage(("soeid",), EVERYTHING)
    assert UsageReader(backend=store, filters=EVERYTHING).rows(("soeid",)) == exact


def test_a_report_waits_for_a_writer_half_way_through_a_batch(tmp_path):
    """A read finding bytes not counted yet takes the writers' lock before counting them: it
    never counts half a batch (and its torn last row) while the writer is still writing."""
    store = CSVBackend(tmp_path)
    store.write_batch([make_event(latency_ms=1.0)])
    writing = multiprocessing.get_context("spawn").Event()
    job = multiprocessing.get_context("spawn").Process(
        target=processes.append_slowly, args=(str(tmp_path), writing)
    )
    job.start()
    assert writing.wait(30)
    assert requests(store) == 11  # waited for the writer: its whole batch, counted once
    job.join(30)
    assert agrees(store) == 11
