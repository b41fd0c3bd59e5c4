"""MongoDB faults on real servers, end to end: gunicorn (2 workers) serving LLM traffic
through the fake upstream while the telemetry chain's MongoDB servers (SecantusDB, each its
own process on its own port and data directory) are killed with SIGKILL and restarted.

Servers run with --sync-on-commit: like mongod, SecantusDB may otherwise lose writes it
acknowledged within a moment of being killed, and these tests count every event. Every
request is answered as usual, and every request's event is stored exactly once across
primary, backup and the CSV fallback, matched by X-Request-ID.
"""

import dataclasses
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from telemetry.backends.mongo import from_document
from tests.mongo_server import MongoServer
from tests.reliability import lost_answer
from tests.reliability.accounting import Stored, assert_exactly_once, failed_writes, traffic
from tests.reliability.conftest import scale
from tests.reliability.gateway import Gateway, wait_until
from tests.telemetry import servers

pytestmark = pytest.mark.slow

DB_NAME = "dgen_reliability"
LOAD = scale(60, 600)  # responses to receive around each fault


@dataclass
class Rig:
    gateway: Gateway
    primary: MongoServer
    backup: MongoServer | None = None
    lost_answer_dir: Path | None = None  # lossy_rig: where the primary is armed

    def events(self, server: MongoServer | None) -> list[dict]:
        if server is None:
            return []
        with server.client(serverSelectionTimeoutMS=10_000) as client:
            return [from_document(doc) for doc in client[DB_NAME]["telemetry"].find()]

    def request_ids(self, server: MongoServer | None) -> set[str]:
        return {event["request_id"] for event in self.events(server)}

    def stop(self) -> Stored:
        """Stop the gateway gracefully (its workers flush), then read every store."""
        assert self.gateway.stop() == 0
        return Stored(
            self.events(self.primary) + self.events(self.backup), self.gateway.csv_events()
        )


@pytest.fixture
def rig(gateways, mongo_servers):
    """rig(backup=True, **env): a gateway whose chain is primary [-> backup] -> CSV."""

    def make(backup: bool = True, **env) -> Rig:
        started = mongo_servers(2 if backup else 1)
        uris = {"MONGO_URI": started[0].uri, "MONGO_BACKUP_URI": started[1].uri if backup else ""}
        gateway = gateways(TELEMETRY_BACKEND="mongo", DB_NAME=DB_NAME, **uris, **env)
        return Rig(gateway, *started)

    return make


@pytest.fixture
def lossy_rig(rig, tmp_path):
    """lossy_rig(**env): a rig whose primary can be made to lose the answer to a write."""

    def make(**env) -> Rig:
        directory = tmp_path / "lost-answer"
        directory.mkdir()
        settings = "tests.reliability.lost_answer_settings"
        made = rig(DJANGO_SETTINGS_MODULE=settings, LOST_ANSWER_DIR=str(directory), **env)
        return dataclasses.replace(made, lost_answer_dir=directory)

    return make


def lose_an_answer(rig: Rig) -> list[str]:
    """One batch is stored in the primary, whose server then dies before answering; the
    chain writes it to the backup too (and every batch after it). The requests sent, each
    stored by now (some in the primary only: written before the server died)."""
    lost_answer.arm(rig.lost_answer_dir, rig.primary.process.pid)
    sent = traffic(rig.gateway, 8)
    assert wait_until(lambda: lost_answer.fired(rig.lost_answer_dir))
    rig.primary.kill()  # dead already: reaped
    assert wait_until(lambda: nothing_spooled(rig.gateway))
    return sent


def nothing_spooled(gateway: Gateway) -> bool:
    """Ten /health answers in a row (so both workers, most likely) with no event waiting."""
    answers = [gateway.health() for _ in range(10)]
    return all(answer and answer["database"]["spooled"] == 0 for answer in answers)


def doubts_left(gateway: Gateway) -> list:
    return sorted((gateway.home / "spool").glob("*.doubts"))


def send(gateway: Gateway, n: int) -> str | None:
    model, stream = [("ok", False), ("ok", True), ("e500", False)][n % 3]
    reply = gateway.llm(model, stream=stream)
    return reply.request_id if reply and reply.status in (200, 502) else None


def test_primary_killed_under_load_fails_over_to_the_backup_then_returns(rig, report):
    # As deployed (2 s server selection timeout); the primary is retried every 3 s.
    rig = rig(TELEMETRY_RETRY_PRIMARY_INTERVAL="3", MONGO_TIMEOUT_MS="2000")
    rig.gateway.start()
    with servers.Load(lambda n: send(rig.gateway, n), threads=4) as load:
        load.wait_for(LOAD)
        assert wait_until(lambda: rig.request_ids(rig.primary))
        killed_at = time.monotonic()
        rig.primary.kill()
        assert wait_until(lambda: rig.request_ids(rig.backup), interval=0.01)
        failover = time.monotonic() - killed_at
        load.wait_for(len(load.received) + LOAD)
        rig.primary.start()  # same port and data: the workers return to it by themselves
        assert rig.gateway.storage_becomes("connected")
        returned = len(rig.request_ids(rig.primary))
        load.wait_for(len(load.received) + LOAD)
        assert wait_until(lambda: len(rig.request_ids(rig.primary)) > returned)
    stored = rig.stop()
    figures = assert_exactly_once(stored, load.received)
    assert stored.csv == [], "the backup took every event of the outage"
    in_backup = len(rig.events(rig.backup))
    report.record(
        "primary killed -> backup -> primary",
        failover_seconds=round(failover, 2),
        in_backup=in_backup,
        **figures,
    )


def test_primary_down_for_many_intervals_is_retried_once_per_interval(rig, report):
    rig = rig(TELEMETRY_RETRY_PRIMARY_INTERVAL="1", MONGO_TIMEOUT_MS="1000")
    rig.gateway.start()
    before = traffic(rig.gateway, 8)
    rig.primary.kill()
    down_at = time.monotonic()
    sent = []
    while time.monotonic() - down_at < 6:  # six retry intervals of steady traffic
        sent += traffic(rig.gateway, 12)
    down_for = time.monotonic() - down_at
    last_sent = time.monotonic()
    assert wait_until(lambda: set(sent) <= rig.request_ids(rig.backup), interval=0.01)
    lag = time.monotonic() - last_sent
    tries = failed_writes(rig.gateway, "primary")
    rig.primary.start()
    stored = rig.stop()
    figures = assert_exactly_once(stored, before + sent)
    # Each of the 2 workers tries the dead primary once per second, not before every batch
    # (hundreds of batches went to the backup meanwhile).
    workers = int(rig.gateway.env["WEB_CONCURRENCY"])
    assert tries <= workers * (down_for / 1 + 2), tries
    report.record(
        "primary down for 6 retry intervals",
        primary_tries=tries,
        seconds_down=round(down_for, 1),
        backup_lag_seconds=round(lag, 2),
        **figures,
    )


def test_both_servers_down_events_go_to_csv_then_return_to_mongodb(rig, report):
    rig = rig()
    rig.gateway.start()
    before = traffic(rig.gateway)
    rig.primary.kill()
    rig.backup.kill()
    during = traffic(rig.gateway)
    assert rig.gateway.storage_becomes("csv_fallback")
    health = rig.gateway.health()["database"]
    assert [(s["alias"], s["state"]) for s in health["stores"]] == [
        ("primary", "down"),
        ("backup", "down"),
        ("csv", "up"),
    ]
    rig.primary.launch()
    rig.backup.launch()
    rig.primary.wait_until_serving()
    rig.backup.wait_until_serving()
    assert rig.gateway.storage_becomes("connected")
    after = traffic(rig.gateway)
    assert wait_until(lambda: set(after) <= rig.request_ids(rig.primary))
    stored = rig.stop()
    figures = assert_exactly_once(stored, before + during + after)
    assert stored.csv, "the CSV fallback took the events of the outage"
    report.record("primary and backup down -> csv -> back", **figures)


def test_unreachable_at_start_then_killed_and_restarted_mid_load_repeatedly(rig, report):
    """MongoDB alone before the CSV fallback: down at start, up, then flapping (killed and
    restarted under load, three times)."""
    rig = rig(backup=False)
    rig.primary.kill()
    rig.gateway.start()
    sent = traffic(rig.gateway)
    assert rig.gateway.storage_becomes("csv_fallback")
    with servers.Load(lambda n: send(rig.gateway, n), threads=4) as load:
        for _ in range(3):
            rig.primary.start()
            assert rig.gateway.storage_becomes("connected", streak=4)
            load.wait_for(len(load.received) + LOAD // 2)
            rig.primary.kill()
            # Under load until the shipper has met the dead server (a write must find it
            # gone; one shipper process writes less often than each worker did).
            assert rig.gateway.storage_becomes("csv_fallback")
            load.wait_for(len(load.received) + LOAD // 2)
        rig.primary.start()
        assert rig.gateway.storage_becomes("connected")
        load.wait_for(len(load.received) + LOAD // 2)
    stored = rig.stop()
    figures = assert_exactly_once(stored, sent + load.received)
    assert stored.csv and stored.mongo
    fallbacks = rig.gateway.log().count("-> csv_fallback")
    assert fallbacks >= 3
    report.record("mongodb killed and restarted 3 times", fallbacks=fallbacks, **figures)


def test_killed_workers_spooled_events_are_recovered_into_mongodb(rig, report):
    rig = rig(backup=False, TELEMETRY_FLUSH_INTERVAL="60", TELEMETRY_BATCH_SIZE="100000")
    rig.gateway.start()
    sent = traffic(rig.gateway)  # spooled, not shipped yet
    killed = rig.gateway.workers()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: len(rig.gateway.workers() - killed) == 2)  # replaced
    stored = rig.stop()
    figures = assert_exactly_once(stored, sent)
    assert len(stored.mongo) == len(sent)
    report.record("workers killed, spools recovered into mongodb", **figures)


def test_a_lost_answer_is_settled_when_the_service_stops_right_after_the_primary_returns(
    lossy_rig, report
):
    """What failed one full run in three: the gateway stopped before any worker had gone
    back to the returned primary (here: a long retry interval), so the worker that lost the
    answer never asked it, and the batch stayed in both servers."""
    rig = lossy_rig(TELEMETRY_RETRY_PRIMARY_INTERVAL="30", MONGO_TIMEOUT_MS="1000")
    rig.gateway.start()
    before = traffic(rig.gateway, 8)
    during = lose_an_answer(rig)
    rig.primary.start()
    assert rig.request_ids(rig.primary) & rig.request_ids(rig.backup), "in both, for now"
    stored = rig.stop()
    figures = assert_exactly_once(stored, before + during)
    assert doubts_left(rig.gateway) == []
    report.record("lost answer, stopped right after the primary returned", **figures)


def test_a_lost_answer_outlives_the_worker_that_had_it(lossy_rig, report):
    """The workers are killed while the primary is down: their replacements take over the
    doubt with the spool and settle it once the primary answers."""
    rig = lossy_rig(TELEMETRY_RETRY_PRIMARY_INTERVAL="1", MONGO_TIMEOUT_MS="1000")
    rig.gateway.start()
    before = traffic(rig.gateway, 8)
    during = lose_an_answer(rig)
    killed = rig.gateway.workers()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: len(rig.gateway.workers() - killed) == 2)
    after = traffic(rig.gateway, 8)
    rig.primary.start()
    assert wait_until(lambda: doubts_left(rig.gateway) == [])  # settled by the replacements
    stored = rig.stop()
    figures = assert_exactly_once(stored, before + during + after)
    report.record("lost answer, workers killed before the primary returned", **figures)
