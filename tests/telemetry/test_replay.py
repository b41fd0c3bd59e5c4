"""manage.py replay_telemetry and telemetry.replay: CSV fallback -> MongoDB, exactly once."""

import io

import pytest
from django.core.management import CommandError, call_command

from telemetry.backends.base import PartialWrite
from telemetry.backends.csv import CSVBackend
from telemetry.backends.mongo import MongoBackend
from telemetry.replay import files_to_replay, replay_file
from tests.telemetry.conftest import FLAKY_CLIENT, REPORT_MONGO, make_event, use_store
from tests.telemetry.fakes import HALF_INSERTS, server

OTHER_MONGO = "mongodb://other:27017"


@pytest.fixture
def mongo(settings, tmp_path, flaky_mongo) -> MongoBackend:
    return use_store(settings, tmp_path, "mongo")


@pytest.fixture
def fallback(settings, mongo) -> CSVBackend:
    return CSVBackend(settings.TELEMETRY["FALLBACK"]["OPTIONS"]["directory"])


def stored_ids(uri: str = REPORT_MONGO) -> list[str]:
    return sorted(doc["_id"] for doc in server(uri).dgen_db.telemetry.find())


def ids(events) -> list[str]:
    return sorted(event["event_id"] for event in events)


def replay(*args: str) -> str:
    out = io.StringIO()
    call_command("replay_telemetry", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_imports_every_event_and_archives_the_file(fallback):
    events = [make_event(soeid=f"u{i}") for i in range(25)]
    fallback.write_batch(events)
    output = replay("--batch-size", "10")
    assert stored_ids() == ids(events)
    assert "25 imported, 0 skipped (already in MongoDB), 0 failed; archived to" in output
    assert list(fallback.directory.glob("*.csv")) == []
    (archived,) = (fallback.directory / "archive").glob("telemetry-*.csv")
    assert ids(CSVBackend(archived.parent).iter_events()) == ids(events)
    # What MongoDB now holds reads back exactly as the CSV held it.
    imported = MongoBackend(uris=[REPORT_MONGO], client_factory=FLAKY_CLIENT).iter_events()
    by_id = lambda e: e["event_id"]  # noqa: E731
    assert sorted(imported, key=by_id) == sorted(events, key=by_id)


def test_replaying_twice_imports_once(fallback):
    events = [make_event() for _ in range(12)]
    fallback.write_batch(events)
    replay("--no-archive")
    output = replay("--no-archive")
    assert "0 imported, 12 skipped" in output
    assert stored_ids() == ids(events)
    assert replay().count("archived to") == 1  # complete, so archived; then nothing is left
    assert "0 file(s)" in replay()
    assert stored_ids() == ids(events)


def test_events_already_in_mongodb_are_skipped(fallback, mongo):
    events = [make_event() for _ in range(6)]
    mongo.write_batch(events[:4])  # e.g. stored just before the outage that sent the rest here
    fallback.write_batch(events)
    assert "2 imported, 4 skipped" in replay()
    assert stored_ids() == ids(events)


class FailsAfter(MongoBackend):
    """A MongoDB that takes `batches` batches, then loses the connection half-way through one."""

    def __init__(self, batches: int, **options):
        super().__init__(**options)
        self.batches = batches

    def write_batch(self, events):
        if self.batches == 0:
            HALF_INSERTS[self.uris[0]] = 6  # half the batch is stored, the rest refused
        self.batches -= 1
        super().write_batch(events)


def test_a_run_interrupted_mid_batch_completes_on_rerun_without_duplicates(fallback):
    events = [make_event(soeid=f"u{i}") for i in range(25)]
    fallback.write_batch(events)
    (path,) = files_to_replay(directory=fallback.directory)
    crashing = FailsAfter(1, uris=[REPORT_MONGO], client_factory=FLAKY_CLIENT)
    with pytest.raises(PartialWrite):
        replay_file(path, target=crashing, batch_size=10)
    assert len(stored_ids()) == 15  # the first batch, and half of the second
    assert path.exists()  # not archived: it is not complete

    HALF_INSERTS.clear()
    output = replay("--batch-size", "10")
    assert "10 imported, 15 skipped (already in MongoDB), 0 failed; archived" in output
    assert stored_ids() == ids(events)


def test_mongodb_failing_during_the_command_says_to_run_it_again(fallback, flaky_mongo):
    fallback.write_batch([make_event() for _ in range(3)])
    flaky_mongo.down(REPORT_MONGO)
    with pytest.raises(CommandError, match="Run the command again to carry on"):
        replay()
    flaky_mongo.up(REPORT_MONGO)
    assert "3 imported" in replay()


def test_a_batch_stored_in_part_during_the_command_says_to_run_it_again(fallback):
    fallback.write_batch([make_event() for _ in range(4)])
    HALF_INSERTS[REPORT_MONGO] = 6
    with pytest.raises(CommandError, match="Run the command again to carry on"):
        replay()
    HALF_INSERTS.clear()
    assert "2 imported, 2 skipped" in replay()


def test_unreadable_rows_are_counted_and_keep_their_file(fallback):
    fallback.write_batch([make_event(), make_event()])
    with open(fallback.path, "a") as handle:
        handle.write("torn,row\r\n")
        handle.write(",1," + ",".join([""] * 27) + "\r\n")  # a row without an event id
    with pytest.raises(CommandError, match="2 rows could not be imported"):
        replay()
    assert len(stored_ids()) == 2
    assert list(fallback.directory.glob("telemetry-*.csv"))  # kept for a look
    assert not (fallback.directory / "archive").exists()


def test_named_files_and_another_mongodb(fallback, tmp_path, settings):
    named = CSVBackend(tmp_path / "copied")
    events = [make_event() for _ in range(3)]
    named.write_batch(events)
    output = replay(str(named.path), "--mongo-uri", OTHER_MONGO)
    assert stored_ids(OTHER_MONGO) == ids(events) and stored_ids() == []
    assert "3 imported" in output
    assert (named.directory / "archive").is_dir()


def test_the_live_file_is_rotated_before_import_so_later_writes_are_not_archived(fallback):
    fallback.write_batch([make_event()])
    (path,) = files_to_replay(directory=fallback.directory)
    assert path.name.startswith("telemetry-") and not fallback.path.exists()
    fallback.write_batch([make_event()])  # a writer carries on in a new telemetry.csv
    replay_file(path, target=MongoBackend(uris=[REPORT_MONGO], client_factory=FLAKY_CLIENT))
    assert fallback.path.exists() and len(stored_ids()) == 1


def test_refuses_without_mongodb(settings, tmp_path):
    use_store(settings, tmp_path, "csv")
    with pytest.raises(CommandError, match="No MongoDB to import into.*--mongo-uri"):
        replay()


@pytest.mark.parametrize(
    "args, message",
    [
        (["/nonexistent.csv"], "No such file"),
        (["--csv-dir", "/nonexistent"], "No such directory"),
        (["--batch-size", "0"], "at least 1"),
    ],
)
def test_bad_arguments_are_clear_errors(mongo, args, message):
    with pytest.raises(CommandError, match=message):
        replay(*args)
