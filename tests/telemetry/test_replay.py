"""manage.py replay_telemetry and telemetry.replay: CSV files -> a store, exactly once.

Into a real MongoDB-protocol server (SecantusDB, or TEST_MONGO_URI), with real duplicate-key
errors and a server killed mid-replay; into another CSV store too: replay writes into any
configured store.
"""

import io

import pytest
from django.core.management import CommandError, call_command

from telemetry.backends import stores
from telemetry.backends.csv import CSVBackend
from telemetry.backends.mongo import MongoBackend
from telemetry.quarantine import Quarantine
from telemetry.replay import files_to_replay, replay_file
from tests.telemetry.conftest import CSV_BACKEND, MONGO_BACKEND, make_event


@pytest.fixture
def configure(settings, tmp_path):
    """Chain: a real MongoDB (primary), then CSV (csv); CSV_FALLBACK_DIR is csv's directory."""

    def configure(uri: str, db_name: str) -> None:
        mongo = {"db_name": db_name, "server_selection_timeout_ms": 500}
        settings.TELEMETRY_MONGO = {"BACKEND": MONGO_BACKEND, "OPTIONS": mongo}
        settings.CSV_FALLBACK_DIR = tmp_path / "fallback"
        settings.TELEMETRY = {
            **settings.TELEMETRY,
            "STORES": {
                "primary": {"BACKEND": MONGO_BACKEND, "OPTIONS": {**mongo, "uri": uri}},
                "csv": {"BACKEND": CSV_BACKEND, "OPTIONS": {"directory": tmp_path / "fallback"}},
                "other": {"BACKEND": CSV_BACKEND, "OPTIONS": {"directory": tmp_path / "other"}},
            },
            "CHAIN": ["primary", "csv"],
            "QUARANTINE_DIR": tmp_path / "quarantine",
        }

    return configure


@pytest.fixture
def mongo(configure, mongo_server, mongo_db) -> MongoBackend:
    configure(mongo_server.uri, mongo_db)
    return stores["primary"]


@pytest.fixture
def fallback(mongo, settings) -> CSVBackend:
    return CSVBackend(settings.CSV_FALLBACK_DIR)


def stored_ids(store) -> list[str]:
    return sorted(event["event_id"] for event in store.iter_events())


def ids(events) -> list[str]:
    return sorted(event["event_id"] for event in events)


def replay(*args: str) -> str:
    out = io.StringIO()
    call_command("replay_telemetry", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_imports_every_event_and_archives_the_file(fallback, mongo):
    events = [make_event(soeid=f"u{i}") for i in range(25)]
    fallback.write_batch(events)
    output = replay("--batch-size", "10")
    assert stored_ids(mongo) == ids(events)
    assert "25 imported, 0 skipped (already stored), 0 quarantined, 0 failed; archived" in output
    assert list(fallback.directory.glob("*.csv")) == []
    (archived,) = (fallback.directory / "archive").glob("telemetry-*.csv")
    assert ids(CSVBackend(archived.parent).iter_events()) == ids(events)
    # What MongoDB now holds reads back exactly as the CSV held it.
    by_id = lambda e: e["event_id"]  # noqa: E731
    assert sorted(mongo.iter_events(), key=by_id) == sorted(events, key=by_id)


def test_replaying_twice_imports_once(fallback, mongo):
    events = [make_event() for _ in range(12)]
    fallback.write_batch(events)
    replay("--no-archive")
    output = replay("--no-archive")
    assert "0 imported, 12 skipped" in output
    assert stored_ids(mongo) == ids(events)
    assert replay().count("archived to") == 1  # complete, so archived; then nothing is left
    assert "0 file(s)" in replay()
    assert stored_ids(mongo) == ids(events)


def test_events_already_in_mongodb_are_skipped(fallback, mongo):
    events = [make_event() for _ in range(6)]
    mongo.write_batch(events[:4])  # e.g. stored just before the outage that sent the rest here
    fallback.write_batch(events)
    assert "2 imported, 4 skipped" in replay()
    assert stored_ids(mongo) == ids(events)


def test_two_replays_racing_store_each_event_once(fallback, mongo, mongo_server):
    """Both ask which ids exist before either writes: the real server's duplicate-key
    errors (11000) keep each event once."""
    events = [make_event() for _ in range(30)]
    fallback.write_batch(events)
    (path,) = files_to_replay(directory=fallback.directory, target=mongo)
    other = MongoBackend(uri=mongo_server.uri, db_name=mongo.db_name)
    assert other.existing_ids(ids(events)) == set()
    first = replay_file(path, target=mongo, archive=False)
    second = replay_file(path, target=other, archive=False)  # had seen nothing: writes all
    assert (first.imported, second.skipped) == (30, 30)
    other.write_batch(events)  # blind rewrite: all duplicates, none stored twice
    assert stored_ids(mongo) == ids(events)
    other.close()


class KillsTheServer(MongoBackend):
    """A MongoDB whose server is SIGKILLed after it took `batches` batches."""

    def __init__(self, server, batches: int, **options):
        super().__init__(uri=server.uri, server_selection_timeout_ms=500, **options)
        self.server, self.batches = server, batches

    def write_batch(self, events):
        if self.batches == 0:
            self.server.kill()
        self.batches -= 1
        super().write_batch(events)


def test_a_replay_interrupted_by_a_server_crash_completes_on_rerun(
    configure, mongo_servers, settings
):
    (server,) = mongo_servers(1)
    configure(server.uri, "dgen_replay")
    fallback = CSVBackend(settings.CSV_FALLBACK_DIR)
    events = [make_event(soeid=f"u{i}") for i in range(25)]
    fallback.write_batch(events)
    crashing = KillsTheServer(server, 1, db_name="dgen_replay")
    (path,) = files_to_replay(directory=fallback.directory, target=stores["primary"])
    with pytest.raises(Exception, match="127.0.0.1"):
        replay_file(path, target=crashing, batch_size=10)
    assert path.exists()  # not archived: it is not complete

    server.start()  # same data directory
    output = replay("--batch-size", "10")
    assert "15 imported, 10 skipped (already stored), 0 quarantined, 0 failed; archived" in output
    assert stored_ids(stores["primary"]) == ids(events)


def test_a_target_that_does_not_answer_is_refused_before_any_file_is_touched(
    configure, mongo_servers, settings
):
    (server,) = mongo_servers(1)
    configure(server.uri, "dgen_replay")
    CSVBackend(settings.CSV_FALLBACK_DIR).write_batch([make_event() for _ in range(3)])
    server.kill()
    with pytest.raises(CommandError, match="does not answer"):
        replay()  # checked before any file is touched
    assert list(settings.CSV_FALLBACK_DIR.glob("telemetry.csv"))
    server.start()
    assert "3 imported" in replay()


def test_events_the_target_refuses_are_quarantined_and_the_file_archived(fallback, mongo, tmp_path):
    events = [make_event() for _ in range(4)]
    # Past build_event, which sets such a value aside: fits in CSV, not in a BSON int64.
    huge = {**make_event(), "max_tokens": 2**70}
    fallback.write_batch([*events[:2], huge, *events[2:]])
    output = replay()
    assert "4 imported, 0 skipped (already stored), 1 quarantined, 0 failed; archived" in output
    assert stored_ids(mongo) == ids(events)
    (record,) = Quarantine(tmp_path / "quarantine").records()
    assert record["event"]["event_id"] == huge["event_id"] and record["store"] == "replay target"
    assert "8-byte ints" in record["error"]


def test_unreadable_rows_are_counted_and_keep_their_file(fallback, mongo):
    fallback.write_batch([make_event(), make_event()])
    with open(fallback.path, "a") as handle:
        handle.write("torn,row\r\n")
        handle.write(",1," + ",".join([""] * 27) + "\r\n")  # a row without an event id
    with pytest.raises(CommandError, match="2 rows could not be imported"):
        replay()
    assert len(stored_ids(mongo)) == 2
    assert list(fallback.directory.glob("telemetry-*.csv"))  # kept for a look
    assert not (fallback.directory / "archive").exists()


def test_named_files_into_another_mongodb(fallback, mongo, tmp_path, mongo_server):
    named = CSVBackend(tmp_path / "copied")
    events = [make_event() for _ in range(3)]
    named.write_batch(events)
    elsewhere = f"{mongo_server.uri}/?appname=elsewhere"
    output = replay(str(named.path), "--mongo-uri", elsewhere)
    assert stored_ids(mongo) == ids(events)  # same server and DB_NAME, given by URI
    assert "3 imported" in output
    assert (named.directory / "archive").is_dir()


def test_replay_writes_into_any_configured_store(fallback, mongo, tmp_path):
    events = [make_event() for _ in range(3)]
    fallback.write_batch(events)
    assert "3 imported" in replay("--to", "other")
    assert stored_ids(CSVBackend(tmp_path / "other")) == ids(events)
    assert stored_ids(mongo) == []


def test_a_store_is_never_replayed_into_itself(fallback, mongo):
    fallback.write_batch([make_event()])
    with pytest.raises(CommandError, match="holds these files itself"):
        replay("--to", "csv")
    assert fallback.path.exists()  # untouched


def test_the_live_file_is_rotated_before_import_so_later_writes_are_not_archived(fallback, mongo):
    fallback.write_batch([make_event()])
    (path,) = files_to_replay(directory=fallback.directory, target=mongo)
    assert path.name.startswith("telemetry-") and not fallback.path.exists()
    fallback.write_batch([make_event()])  # a writer carries on in a new telemetry.csv
    replay_file(path, target=mongo)
    assert fallback.path.exists() and len(stored_ids(mongo)) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["/nonexistent.csv"], "No such file"),
        (["--csv-dir", "/nonexistent"], "No such directory"),
        (["--batch-size", "0"], "at least 1"),
        (["--mongo-uri", "notauri"], "'notauri' is not a MongoDB URI"),
        (["--to", "nope"], "No telemetry store 'nope'"),
    ],
)
def test_bad_arguments_are_clear_errors_before_any_file_is_touched(fallback, args, message):
    fallback.write_batch([make_event()])
    with pytest.raises(CommandError, match=message):
        replay(*args)
    assert sorted(p.name for p in fallback.directory.iterdir()) == [
        "rollups.sqlite3",  # the store's rollups, beside its files (csv_rollups)
        "telemetry.csv",
    ]
