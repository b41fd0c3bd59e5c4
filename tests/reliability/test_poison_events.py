"""One event a store cannot take never wedges the writer, under gunicorn, on both stores.

A restarted gateway finds a spool segment left by a process that died (as an older version
spooled it: a lone surrogate escaped as \\ud800, a NUL in a key), holding 100 events of which
one is poison for the store, and a line torn by the crash. It stores the 99, quarantines the
poison event and the torn line once each, with the store's reason, says so in /health, and
goes on storing new traffic: nothing is retried forever.
"""

import json
import time

import pytest

from telemetry.backends.mongo import from_document
from telemetry.quarantine import Quarantine
from tests.reliability.accounting import traffic
from tests.reliability.gateway import Gateway, wait_until
from tests.telemetry.conftest import make_event

pytestmark = pytest.mark.slow

POISON = {
    "csv": {"error": "upstream echoed a\ud800"},  # not UTF-8: no CSV file can hold it
    "mongodb": {"extra": {"bad\x00key": 1}},  # no BSON document can hold it
}
TORN = b'{"event_id": "torn-by-the-crash", "timest'


def orphan_segment(gateway: Gateway, kind: str) -> tuple[list[dict], dict]:
    events = [make_event(request_id=f"orphan-{n}") for n in range(100)]
    events[50] = {**events[50], **POISON[kind]}
    lines = [json.dumps(event).encode() + b"\n" for event in events]
    lines.insert(70, TORN + b"\n")
    spool = gateway.home / "spool"
    spool.mkdir(parents=True)
    (spool / f"999999-{time.time_ns()}.spool").write_bytes(b"".join(lines))
    return events, events[50]


@pytest.fixture(params=["csv", "mongodb"])
def gateway(request, gateways):
    if request.param == "csv":
        gateway = gateways(TELEMETRY_BACKEND="csv")
        gateway.stored = lambda: gateway.csv_events()
    else:
        server = request.getfixturevalue("mongo_server")
        db_name = request.getfixturevalue("mongo_db")
        gateway = gateways(TELEMETRY_BACKEND="mongo", MONGO_URI=server.uri, DB_NAME=db_name)

        def stored():
            with server.client() as client:
                return [from_document(d) for d in client[db_name]["telemetry"].find()]

        gateway.stored = stored
    gateway.kind = request.param
    return gateway


def quarantine_counts(gateway: Gateway) -> tuple[int, int]:
    """(quarantined, corrupt) as /health says, summed over a few answers per worker."""
    seen = {}
    for _ in range(20):
        health = gateway.health()
        if health:
            database = health["database"]
            seen[database["quarantined"], database["corrupt"]] = True
    return max(seen, default=(0, 0))


def test_one_poison_event_among_100_never_wedges_the_writer(gateway, report):
    events, poison = orphan_segment(gateway, gateway.kind)
    gateway.start()
    expected = {e["request_id"] for e in events} - {poison["request_id"]}
    assert wait_until(lambda: expected <= {e["request_id"] for e in gateway.stored()})
    assert wait_until(lambda: quarantine_counts(gateway) == (2, 1))
    after = traffic(gateway)  # the writer keeps going
    assert wait_until(lambda: set(after) <= {e["request_id"] for e in gateway.stored()})
    assert gateway.stop() == 0

    stored = [e["request_id"] for e in gateway.stored()]
    assert sorted(stored) == sorted(expected | set(after))  # 99 + new traffic, once each
    records = list(Quarantine(gateway.home / "spool" / "quarantine").records())
    assert [r["event"]["event_id"] for r in records if "event" in r] == [poison["event_id"]]
    assert [r["line"] for r in records if "line" in r] == [TORN.decode()]
    assert gateway.spool_files() == []  # the dead process's segment was recovered whole
    log = gateway.log()
    assert log.count(f"Telemetry event {poison['event_id']} quarantined") == 1
    assert "corrupt line(s) set aside" in log
    report.record(
        f"poison event among 100 ({gateway.kind})",
        stored=len(expected),
        quarantined=1,
        corrupt=1,
        after=len(after),
    )
