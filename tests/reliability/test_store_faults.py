"""Telemetry store faults, end to end: gunicorn (2 workers) serving LLM traffic through the
fake upstream while its telemetry store fails.

The CSV store: unwritable, and a full disk (no file may grow: RLIMIT_FSIZE). MongoDB: a bulk
write partly applied, raised at the driver boundary by tests/reliability/shared_mongo.py
(one switch for all worker processes); every other MongoDB fault runs on real servers in
test_mongo_server_faults.py. Under each, every request is answered as usual and every
request's event is stored exactly once, in MongoDB or in the CSV fallback.
"""

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability import shared_mongo
from tests.reliability.accounting import Stored, assert_exactly_once, failed_writes, traffic
from tests.reliability.gateway import Gateway, wait_until

pytestmark = pytest.mark.slow

MONGO_URI = "mongodb://telemetry-db.invalid:27017"


@dataclass
class MongoRig:
    """A gateway storing telemetry in the shared fake MongoDB, and its switch."""

    gateway: Gateway
    home: Path
    db_name: str

    def switch(self, mode: str) -> None:
        shared_mongo.set_switch(self.home, mode)

    def mongo_events(self) -> list[dict]:
        return shared_mongo.stored_events(self.home)

    def stored(self) -> Stored:
        return Stored(self.mongo_events(), self.gateway.csv_events())

    def stop(self) -> Stored:
        """Stop the gateway gracefully (its workers flush) and read what was stored."""
        assert self.gateway.stop() == 0
        return self.stored()


@pytest.fixture
def rig(gateways, tmp_path):
    home = tmp_path / "mongo"
    home.mkdir()
    db_name = f"dgen_reliability_{uuid.uuid4().hex[:8]}"
    gateway = gateways(
        DJANGO_SETTINGS_MODULE="tests.reliability.mongo_settings",
        TELEMETRY_BACKEND="mongo",
        MONGO_URI=MONGO_URI,
        DB_NAME=db_name,
        MONGO_TIMEOUT_MS="300",
        SHARED_MONGO_DIR=str(home),
        # Batches of several events, so that a half-applied insert stores some of each: the
        # shipper process ships each worker's segment as a batch of its own, and at 50 ms a
        # round those often held one event (half of one is none).
        TELEMETRY_FLUSH_INTERVAL="0.5",
    )
    return MongoRig(gateway, home, db_name)


def in_mongo(rig: MongoRig, requests: list[str]) -> bool:
    return set(requests) <= {event["request_id"] for event in rig.mongo_events()}


def back_again(rig: MongoRig) -> list[str]:
    """MongoDB answers again: every worker returns to it, and new events go there."""
    rig.switch("up")
    assert rig.gateway.storage_becomes("connected")
    after = traffic(rig.gateway)
    assert wait_until(lambda: in_mongo(rig, after))
    return after


def test_mongo_bulk_write_partly_applied_then_back(rig, report):
    """A primary stepping down mid-batch applies part of an insert_many: no real server can
    be made to do that on demand, so this one scenario runs on the shared fake."""
    rig.gateway.start()
    rig.switch("partial")  # each insert_many stores half its batch, then BulkWriteError
    during = traffic(rig.gateway)
    # The server still answers pings, so the writer goes back to it after each failure.
    assert wait_until(rig.gateway.csv_events), "the rest of each batch went to the fallback"
    after = back_again(rig)

    stored = rig.stop()
    figures = assert_exactly_once(stored, during + after)
    assert len(stored.mongo) > len(after), "some of the batches were half-stored"
    report.record(
        "mongo bulk writes partly applied", failed_writes=failed_writes(rig.gateway), **figures
    )


@pytest.fixture
def csv_gateway(gateways):
    return gateways(TELEMETRY_BACKEND="csv")


def test_csv_store_unwritable_then_back(csv_gateway, report):
    gateway = csv_gateway
    unwritable = gateway.home / "csv" / "telemetry.csv"
    unwritable.mkdir(parents=True)
    gateway.start()
    during = traffic(gateway)
    assert gateway.storage_becomes("unavailable")
    # /health must not call the store healthy between two failed writes either.
    assert "connected" not in gateway.storage_states()
    assert gateway.spool_files(), "the events wait in the spool"
    unwritable.rmdir()
    after = traffic(gateway)
    assert gateway.storage_becomes("connected")

    assert gateway.stop() == 0
    figures = assert_exactly_once(Stored([], gateway.csv_events()), during + after)
    report.record("csv store unwritable", failed_writes=failed_writes(gateway), **figures)


def test_disk_full_events_are_held_then_written_once_space_returns(csv_gateway, report):
    gateway = csv_gateway.start()
    before = traffic(gateway)
    assert wait_until(lambda: len(gateway.csv_events()) == len(before))
    gateway.limit_file_size(1)  # no file may grow: spool, CSV store (and log) are full
    during = traffic(gateway)
    assert gateway.health()["database"]["dropped"] == 0, "held in memory, not dropped"
    assert gateway.storage_becomes("unavailable")
    assert "connected" not in gateway.storage_states()
    assert len(gateway.csv_events()) == len(before), "nothing could be written"
    gateway.limit_file_size(None)
    wait_until(lambda: len(gateway.csv_events()) >= len(before + during))  # else: lost, below

    assert gateway.stop() == 0
    figures = assert_exactly_once(Stored([], gateway.csv_events()), before + during)
    report.record("disk full", held=len(during), **figures)
