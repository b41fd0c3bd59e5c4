"""Telemetry store faults, end to end: gunicorn (2 workers) serving LLM traffic through the
fake upstream while its telemetry store fails.

MongoDB faults are pymongo's own errors raised at the driver boundary by
tests/reliability/shared_mongo.py (one switch for all worker processes): unreachable at
start, connection lost mid-run, flapping, partially applied bulk writes; each time followed
by "back again". The CSV store: unwritable, and a full disk (no file may grow: RLIMIT_FSIZE).
Under each, every request is answered as usual and every request's event is stored exactly
once, in MongoDB or in the CSV fallback.
"""

import os
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability import shared_mongo
from tests.reliability.conftest import scale
from tests.reliability.gateway import Gateway, wait_until

pytestmark = pytest.mark.slow

PHASE_REQUESTS = scale(40, 400)  # requests sent in each phase of a scenario
FLAP_WINDOW = 0.2  # seconds up, then seconds down, and so on
MONGO_URI = "mongodb://telemetry-db.invalid:27017"
REAL_MONGO_URI = os.environ.get("TEST_MONGO_URI", "")
# Plain and streamed completions, and one the upstream fails: all recorded.
TRAFFIC = [("ok", False, 200), ("ok", True, 200), ("e500", False, 502)]


def traffic(gateway: Gateway, count: int = PHASE_REQUESTS) -> list[str]:
    """Send `count` LLM requests, 4 at a time; each must get its usual answer."""
    kinds = [TRAFFIC[n % len(TRAFFIC)] for n in range(count)]
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda kind: gateway.llm(kind[0], stream=kind[1]), kinds))
    assert [reply and reply.status for reply in replies] == [kind[2] for kind in kinds]
    return [reply.request_id for reply in replies]


@dataclass
class Stored:
    """Events per store, and how they account for the requests the clients sent."""

    mongo: list[dict]
    csv: list[dict]

    def figures(self, requests: list[str]) -> dict:
        counts = Counter(event["request_id"] for event in self.mongo + self.csv)
        return {
            "requests": len(requests),
            "in_mongo": len(self.mongo),
            "in_csv": len(self.csv),
            "lost": sum(counts[request_id] == 0 for request_id in requests),
            "duplicated": sum(counts[request_id] > 1 for request_id in requests),
            "unexpected": len(set(counts) - set(requests)),
        }


def assert_exactly_once(stored: Stored, requests: list[str]) -> dict:
    figures = stored.figures(requests)
    assert (figures["lost"], figures["duplicated"], figures["unexpected"]) == (0, 0, 0), figures
    return figures


def failed_writes(gateway: Gateway) -> int:
    """Store writes that failed, as the workers logged them: the faults telemetry met."""
    return gateway.log().count("Telemetry store failed")


@dataclass
class MongoRig:
    """A gateway storing telemetry in the shared fake MongoDB, and its switch."""

    gateway: Gateway
    home: Path
    db_name: str
    real_uri: str

    def switch(self, mode: str) -> None:
        shared_mongo.set_switch(self.home, mode)

    def mongo_events(self) -> list[dict]:
        return shared_mongo.stored_events(self.home, self.db_name, self.real_uri)

    def stored(self) -> Stored:
        return Stored(self.mongo_events(), self.gateway.csv_events())

    def stop(self) -> Stored:
        """Stop the gateway gracefully (its workers flush) and read what was stored."""
        assert self.gateway.stop() == 0
        return self.stored()

    def fallbacks_logged(self) -> int:
        return self.gateway.log().count("-> csv_fallback")


@pytest.fixture(params=["mongomock", "mongodb"])
def rig(request, gateways, tmp_path):
    real_uri = REAL_MONGO_URI if request.param == "mongodb" else ""
    if request.param == "mongodb" and not real_uri:
        pytest.skip("TEST_MONGO_URI is not set: the MongoDB scenarios ran on mongomock only")
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
        SHARED_MONGO_REAL_URI=real_uri,
    )
    yield MongoRig(gateway, home, db_name, real_uri)
    shared_mongo.drop(db_name, real_uri)


def in_mongo(rig: MongoRig, requests: list[str]) -> bool:
    return set(requests) <= {event["request_id"] for event in rig.mongo_events()}


def back_again(rig: MongoRig) -> list[str]:
    """MongoDB answers again: every worker returns to it, and new events go there."""
    rig.switch("up")
    assert rig.gateway.storage_becomes("connected")
    after = traffic(rig.gateway)
    assert wait_until(lambda: in_mongo(rig, after))
    return after


def test_mongo_unreachable_at_start_then_back(rig, report):
    rig.switch("down")
    rig.gateway.start()
    during = traffic(rig.gateway)
    assert rig.gateway.storage_becomes("csv_fallback")
    after = back_again(rig)

    stored = rig.stop()
    figures = assert_exactly_once(stored, during + after)
    assert stored.csv, "the CSV fallback took the events of the outage"
    report.record("mongo unreachable at start", failed_writes=failed_writes(rig.gateway), **figures)


def test_mongo_lost_mid_run_then_back(rig, report):
    rig.gateway.start()
    before = traffic(rig.gateway)
    assert wait_until(lambda: in_mongo(rig, before))
    rig.switch("reconnect")  # every operation now raises AutoReconnect
    during = traffic(rig.gateway)
    assert rig.gateway.storage_becomes("csv_fallback")
    after = back_again(rig)

    stored = rig.stop()
    figures = assert_exactly_once(stored, before + during + after)
    assert stored.csv
    report.record("mongo lost mid-run", failed_writes=failed_writes(rig.gateway), **figures)


def test_mongo_flapping_then_back(rig, report):
    rig.gateway.start()
    rig.switch(f"flap:{FLAP_WINDOW}")
    flapping: list[str] = []
    # Enough traffic to span several windows down and up, on both workers.
    while rig.fallbacks_logged() < 4 and len(flapping) < 50 * PHASE_REQUESTS:
        flapping += traffic(rig.gateway)
    after = back_again(rig)

    stored = rig.stop()
    figures = assert_exactly_once(stored, flapping + after)
    assert rig.fallbacks_logged() >= 4, "the store went away at least 4 times"
    report.record(
        "mongo flapping",
        fallbacks=rig.fallbacks_logged(),
        failed_writes=failed_writes(rig.gateway),
        **figures,
    )


def test_mongo_bulk_write_partly_applied_then_back(rig, report):
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


def test_mongo_and_csv_fallback_both_down_events_wait_in_the_spool(rig, report):
    unwritable = rig.gateway.home / "csv" / "telemetry.csv"
    unwritable.mkdir(parents=True)  # the CSV file cannot be opened: it is a directory
    rig.switch("down")
    rig.gateway.start()
    during = traffic(rig.gateway)
    assert rig.gateway.storage_becomes("unavailable")
    health = rig.gateway.health()
    assert health["status"] == "degraded" and health["database"]["dropped"] == 0
    assert rig.mongo_events() == []
    after = back_again(rig)

    assert rig.gateway.stop() == 0
    unwritable.rmdir()
    stored = rig.stored()
    figures = assert_exactly_once(stored, during + after)
    assert stored.csv == [], "everything waited in the spool, then went to MongoDB"
    report.record(
        "mongo and csv fallback both down", failed_writes=failed_writes(rig.gateway), **figures
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
