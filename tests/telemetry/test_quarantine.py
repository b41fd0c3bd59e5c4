"""One event a store cannot take never wedges the writer: it is set aside, alone, in the
quarantine with the store's reason; the rest of its batch is stored; the writer carries on.
On both stores: CSV files, and a real MongoDB-protocol server."""

import json
import os
import time
from pathlib import Path

import pytest

from telemetry.backends.chain import ChainStore
from telemetry.backends.csv import CSVBackend
from telemetry.backends.mongo import MongoBackend
from telemetry.quarantine import Quarantine
from telemetry.writer import TelemetryWriter
from tests.telemetry.conftest import make_event

# What an older version (json.dumps, ASCII escapes) spooled, and each store cannot take.
POISON = {
    "csv": {"error": "upstream said a\ud800"},  # a lone surrogate: not UTF-8
    "mongodb": {"extra": {"bad\x00key": "x"}},  # BSON keys cannot hold a NUL
}


@pytest.fixture(params=["csv", "mongodb"])
def store(request, tmp_path):
    if request.param == "csv":
        store = CSVBackend(tmp_path / "csv")
    else:
        server = request.getfixturevalue("mongo_server")
        store = MongoBackend(uri=server.uri, db_name=request.getfixturevalue("mongo_db"))
    store.kind = request.param
    yield store
    store.close()


@pytest.fixture
def writer(store, tmp_path):
    chain = ChainStore([(store.kind, store)], retry_interval=0.05)
    writer = TelemetryWriter(
        store=chain, spool_dir=tmp_path / "spool", batch_size=25, flush_interval=0.01
    )
    yield writer
    writer.shutdown(timeout=10)


def old_line(event: dict) -> bytes:
    return json.dumps(event).encode() + b"\n"


def hundred_with_one_poison(kind: str) -> tuple[list[dict], dict]:
    events = [make_event(request_id=str(n)) for n in range(100)]
    events[37] = {**events[37], **POISON[kind]}
    return events, events[37]


def dead_process_segment(spool_dir: Path, lines: list[bytes]) -> Path:
    """A spool segment left by a process that is gone (no one holds its lock)."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    path = spool_dir / f"999999-{time.time_ns()}.spool"
    path.write_bytes(b"".join(lines))
    return path


def stored_ids(store) -> set[str]:
    return {event["event_id"] for event in store.iter_events()}


def quarantined(tmp_path) -> list[dict]:
    return list(Quarantine(tmp_path / "spool" / "quarantine").records())


def test_one_poison_event_among_100_spooled_is_quarantined_and_99_stored(writer, store, tmp_path):
    events, poison = hundred_with_one_poison(store.kind)
    for event in events:  # spooled as an older version did, bypassing today's emit()
        writer.spool.append(old_line(event))
    assert writer.flush(timeout=10) is True
    assert stored_ids(store) == {e["event_id"] for e in events} - {poison["event_id"]}
    (record,) = quarantined(tmp_path)
    assert record["event"] == poison and record["store"] == store.kind and record["error"]
    status = writer.status()
    assert (status["quarantined"], status["spooled"], status["status"]) == (1, 0, "connected")
    later = make_event()
    writer.emit(later)  # the writer keeps going
    assert writer.flush(timeout=10) and later["event_id"] in stored_ids(store)
    assert len(quarantined(tmp_path)) == 1  # set aside once, never retried


def test_a_dead_processs_segment_holding_a_poison_event_is_recovered(writer, store, tmp_path):
    events, poison = hundred_with_one_poison(store.kind)
    corrupt = b'{"event_id": "torn-by-a-crash", "time'
    lines = [old_line(e) for e in events[:50]] + [corrupt + b"\n"]
    lines += [old_line(e) for e in events[50:]] + [b"[1, 2, 3]\n"]
    segment = dead_process_segment(tmp_path / "spool", lines)
    assert writer.flush(timeout=10) is True
    assert stored_ids(store) == {e["event_id"] for e in events} - {poison["event_id"]}
    assert not segment.exists(), "recovered whole, then deleted"
    records = quarantined(tmp_path)
    assert [r.get("event", {}).get("event_id") for r in records if "event" in r] == [
        poison["event_id"]
    ]
    assert [r["line"] for r in records if "line" in r] == [corrupt.decode(), "[1, 2, 3]"]
    status = writer.status()
    assert (status["recovered"], status["quarantined"], status["corrupt"]) == (99, 3, 2)


def test_nothing_is_quarantined_while_the_store_is_down(tmp_path):
    blocked = tmp_path / "csv"
    blocked.write_text("a file where the directory should be")
    chain = ChainStore([("csv", CSVBackend(blocked))], retry_interval=0.05)
    writer = TelemetryWriter(store=chain, spool_dir=tmp_path / "spool", batch_size=10)
    for _ in range(5):
        writer.emit(make_event())
    assert writer.flush(timeout=5) is False
    assert quarantined(tmp_path) == [] and writer.status()["spooled"] == 5
    blocked.unlink()
    assert writer.shutdown(timeout=5) is True
    assert len(stored_ids(CSVBackend(blocked))) == 5


def test_events_from_odd_input_are_all_stored_by_emit(writer, store, tmp_path):
    """emit() never loses an event for what it holds: it spools a safe copy instead."""
    circular: dict = {}
    circular["self"] = circular
    odd = [
        make_event(error="lone \ud800 surrogate", user_agent="\udcff"),
        make_event(extra={"nul\x00key": "nul\x00value"}),
        make_event(max_tokens=2**70, extra={"huge": 10**5000, "neg": -(2**64)}),
        make_event(extra={1: "int key", (1, 2): "tuple key", "obj": object()}),
        make_event(extra={"circular": circular}),
        make_event(extra={"emoji \U0001f600": "pair kept"}),
    ]
    for event in odd:
        writer.emit(event)
    assert writer.flush(timeout=10) is True
    assert quarantined(tmp_path) == []
    by_id = {event["event_id"]: event for event in store.iter_events()}
    assert set(by_id) == {event["event_id"] for event in odd}
    first, nul, huge, keys, circle, emoji = (by_id[e["event_id"]] for e in odd)
    assert first["error"] == "lone \ufffd surrogate" and first["user_agent"] == "\ufffd"
    assert nul["extra"] == {"nul\ufffdkey": "nul\x00value"}
    assert huge["max_tokens"] is None
    assert huge["extra"]["invalid_fields"] == {"max_tokens": str(2**70)}
    assert huge["extra"]["huge"].startswith("<integer of") and huge["extra"]["neg"] == str(-(2**64))
    assert keys["extra"]["1"] == "int key" and keys["extra"]["(1, 2)"] == "tuple key"
    assert "object" in keys["extra"]["obj"]
    assert "nested deeper" in json.dumps(circle["extra"])
    assert emoji["extra"] == {"emoji \U0001f600": "pair kept"}


def test_the_quarantine_file_is_shared_by_processes_and_keeps_the_event_exactly(tmp_path):
    quarantine = Quarantine(tmp_path)
    event = {**make_event(), "error": "a\ud800", "extra": {"n": 2**70}}
    pid = os.fork()
    if pid == 0:
        Quarantine(tmp_path).events([event], {event["event_id"]: "child"}, store="csv")
        os._exit(0)
    os.waitpid(pid, 0)
    quarantine.events([event], {event["event_id"]: "parent"}, store="csv")
    records = list(quarantine.records())
    assert [r["error"] for r in records] == ["child", "parent"]
    assert all(r["event"] == event for r in records)
