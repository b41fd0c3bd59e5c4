import csv
import io
import multiprocessing
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from telemetry.backends import csv as csv_backend
from telemetry.backends.csv import CSVBackend, read_file
from telemetry.schema import CSV_HEADER, FIELDS, SCHEMA_VERSION, csv_cell
from tests.telemetry import processes
from tests.telemetry.conftest import make_event


def headers_are_once_at_the_top(store: CSVBackend) -> bool:
    for path in store.files():
        data, header = path.read_bytes(), CSV_HEADER.encode()
        if not data.startswith(header) or data.count(header) != 1:
            return False
    return True


def test_the_header_is_written_once(tmp_path):
    store = CSVBackend(tmp_path)
    for _ in range(3):
        store.write_batch([make_event(), make_event()])
    assert store.files() == [tmp_path / "telemetry.csv"]
    assert headers_are_once_at_the_top(store)
    assert len(list(store.iter_events())) == 6


def test_a_full_file_is_rotated_and_every_file_is_still_read(tmp_path):
    store = CSVBackend(tmp_path, max_bytes=1000)
    written = [make_event(request_id=str(i)) for i in range(30)]
    for event in written:
        store.write_batch([event])
    assert len(store.files()) > 3
    assert all(path.stat().st_size < 1000 + 500 for path in store.files())
    assert headers_are_once_at_the_top(store)
    assert [e["request_id"] for e in store.iter_events()] == [str(i) for i in range(30)]


def test_yesterdays_file_is_rotated_on_the_first_write_of_the_day(tmp_path):
    store = CSVBackend(tmp_path)
    store.write_batch([make_event()])
    yesterday = time.time() - 86400
    os.utime(store.path, (yesterday, yesterday))
    store.write_batch([make_event()])
    rotated = sorted(tmp_path.glob("telemetry-*.csv"))
    assert len(rotated) == 1 and len(store.files()) == 2


def test_a_file_of_an_older_schema_is_rotated_so_every_row_reads_back(tmp_path):
    # Today's file, written before the schema gained its version 2 fields.
    version_1 = FIELDS[: FIELDS.index("extra") + 1]
    old = make_event(request_id="old")
    with open(tmp_path / "telemetry.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([version_1, [csv_cell(old[name]) for name in version_1]])
    store = CSVBackend(tmp_path)
    store.write_batch([make_event(request_id="new", cost=0.25)])
    (rotated,) = tmp_path.glob("telemetry-*.csv")
    assert rotated.read_text().startswith(",".join(version_1) + "\n")
    assert store.path.read_bytes().startswith(CSV_HEADER.encode())
    bad_rows = []
    for path in store.files():
        list(read_file(path, on_bad_row=lambda line, reason: bad_rows.append(reason)))
    assert bad_rows == []
    events = {event["request_id"]: event for event in store.iter_events()}
    assert set(events) == {"old", "new"}
    assert (events["old"]["cost"], events["new"]["cost"]) == (None, 0.25)


def test_concurrent_writer_processes_leave_only_whole_rows_and_the_exact_count(tmp_path):
    workers, batches, size = 4, 25, 20
    processes.race_writers(str(tmp_path), 40_000, workers, batches, size)
    store = CSVBackend(tmp_path)
    events = list(store.iter_events())
    assert len(store.files()) > 1  # rotation happened while they raced
    assert headers_are_once_at_the_top(store)
    assert len(events) == workers * batches * size
    assert len({e["event_id"] for e in events}) == len(events)
    assert Counter(e["soeid"] for e in events) == {f"w{w}": batches * size for w in range(workers)}
    # Every row parsed whole: each event has all its values, none spilled from a neighbour.
    assert all(e["endpoint"] == "/x" * 20 and e["schema_version"] == SCHEMA_VERSION for e in events)


def test_a_batch_that_does_not_fit_on_disk_leaves_no_partial_row(tmp_path):
    store = CSVBackend(tmp_path)
    store.write_batch([make_event()])
    size = store.path.stat().st_size
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        error = pool.apply(processes.write_past_a_size_limit, (str(tmp_path), 300))
    assert error == "OSError"
    assert store.path.stat().st_size == size
    store.write_batch([make_event()])
    assert len(list(store.iter_events())) == 2


def test_existing_ids_skips_files_last_written_before_since(tmp_path):
    store = CSVBackend(tmp_path)
    old = make_event()
    store.write_batch([old])
    long_ago = time.time() - 7200
    os.utime(store.path, (long_ago, long_ago))
    assert store.existing_ids([old["event_id"]]) == {old["event_id"]}
    since = datetime.now(UTC) - timedelta(hours=1)
    assert store.existing_ids([old["event_id"]], since=since) == set()


def test_health_reports_an_unwritable_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    health = CSVBackend(blocker / "csv").health()
    assert health["ok"] is False and health["error"]


def test_health_reports_a_data_file_that_cannot_be_opened(tmp_path):
    # Found by tests/reliability: /health said "connected" between failed writes.
    store = CSVBackend(tmp_path)
    store.path.mkdir()  # unwritable, even for root
    health = store.health()
    assert health["ok"] is False and "telemetry.csv is not writable" in health["error"]
    store.path.rmdir()
    assert store.health() == {"ok": True, "error": None}


def test_a_file_found_empty_then_written_during_the_read_is_not_misread(tmp_path, monkeypatch):
    # A writer creates telemetry.csv, then locks it, then writes: a reader may find it empty
    # and then, reading on, see the rows arrive. It must not take them as data rows of a
    # file without a header (it failed with a TypeError, seen by tests/reliability).
    store = CSVBackend(tmp_path)
    store.path.touch()
    real_open = open

    class FileRacedByAWriter(io.BufferedReader):
        def readline(self, *args):
            line = super().readline(*args)
            if not line:  # the file was empty: now the writer writes
                store.write_batch([make_event(request_id="late")])
            return line

    def racing_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return FileRacedByAWriter(handle.detach()) if mode == "rb" else handle

    monkeypatch.setattr(csv_backend, "open", racing_open, raising=False)
    assert list(store.iter_events()) == []
    monkeypatch.undo()
    assert [event["request_id"] for event in store.iter_events()] == ["late"]
