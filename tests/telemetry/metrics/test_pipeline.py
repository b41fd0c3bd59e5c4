"""What the telemetry writer publishes after each round: the figures /health shows, as
counters that only go up and gauges per store of the chain."""

import json
import time

import pytest

from telemetry import writer as process_writer
from telemetry.backends.base import TelemetryBackend
from telemetry.backends.chain import ChainStore
from telemetry.backends.csv import CSVBackend
from telemetry.metrics.recording import WriterMetrics
from telemetry.writer import TelemetryWriter
from tests.samples import local, total
from tests.telemetry.conftest import make_event

COUNTERS = {
    "stored": "dgen_ping_telemetry_events_stored_total",
    "recovered": "dgen_ping_telemetry_events_recovered_total",
    "quarantined": "dgen_ping_telemetry_events_quarantined_total",
    "corrupt": "dgen_ping_telemetry_spool_lines_corrupt_total",
    "dropped": "dgen_ping_telemetry_events_dropped_total",
}


@pytest.fixture(autouse=True)
def quiet():
    """No writer thread of this process publishes meanwhile (the gauges are the process's)."""
    process_writer.shutdown()


def counts() -> dict[str, float]:
    samples = local()
    return {name: total(samples, metric) for name, metric in COUNTERS.items()}


def grown(before: dict, after: dict) -> dict:
    return {name: after[name] - before[name] for name in before}


def gauge(name: str, **labels) -> float:
    return total(local(), name, **labels)


def totals(**figures) -> dict:
    return {**dict.fromkeys(COUNTERS, 0), **figures}


def test_counters_advance_by_what_the_totals_grew_and_never_go_back():
    metrics, before = WriterMetrics(), counts()
    store = [{"alias": "unit", "state": "up", "active": True}]
    metrics.publish(totals=totals(stored=5, dropped=1), backlog=3, status="connected", stores=store)
    metrics.publish(totals=totals(stored=8, dropped=1), backlog=0, status="connected", stores=store)
    # A total that went down (it cannot; if it did) takes nothing back.
    metrics.publish(totals=totals(stored=2), backlog=0, status="connected", stores=store)
    metrics.publish(totals=totals(stored=9, dropped=1), backlog=0, status="connected", stores=store)
    assert grown(before, counts()) == totals(stored=9, dropped=1)


def test_gauges_show_the_stores_states_and_the_status():
    metrics = WriterMetrics()
    up = [{"alias": "unit", "state": "up", "active": True}]
    metrics.publish(totals=totals(), backlog=7, status="connected", stores=up)
    assert gauge("dgen_ping_telemetry_backlog_events") == 7
    assert gauge("dgen_ping_telemetry_store_state", store="unit", state="up") == 1
    assert gauge("dgen_ping_telemetry_store_active", store="unit") == 1
    assert gauge("dgen_ping_telemetry_status", status="connected") == 1
    down = [{"alias": "unit", "state": "down", "active": False}]
    metrics.publish(totals=totals(), backlog=0, status="unavailable", stores=down)
    assert gauge("dgen_ping_telemetry_store_state", store="unit", state="up") == 0
    assert gauge("dgen_ping_telemetry_store_state", store="unit", state="down") == 1
    assert gauge("dgen_ping_telemetry_store_active", store="unit") == 0
    assert gauge("dgen_ping_telemetry_status", status="connected") == 0
    assert gauge("dgen_ping_telemetry_status", status="unavailable") == 1


class DeadStore(TelemetryBackend):
    """A store of the chain that never answers."""

    def write_batch(self, events):
        raise OSError("connection refused")

    def existing_ids(self, ids, since=None):
        raise OSError("connection refused")

    def health(self):
        return {"ok": False, "error": "connection refused"}


@pytest.fixture
def writer(tmp_path):
    chain = ChainStore([("dead", DeadStore()), ("files", CSVBackend(tmp_path / "csv"))], 60.0)
    writer = TelemetryWriter(store=chain, spool_dir=tmp_path / "spool", batch_size=50)
    yield writer
    writer.shutdown(timeout=10)


def line(event: dict) -> bytes:
    return json.dumps(event).encode() + b"\n"


def test_a_writers_round_is_published_as_it_went(writer, tmp_path):
    """Stored, recovered from a dead process, quarantined, corrupt; the chain's stores."""
    before = counts()
    for _ in range(10):
        writer.emit(make_event())
    writer.spool.append(line(make_event(error="lone \ud800")))  # CSV cannot store it
    writer.spool.append(b"{torn line\n")
    dead = tmp_path / "spool" / f"999999-{time.time_ns()}.spool"  # a dead process's
    dead.write_bytes(b"".join(line(make_event()) for _ in range(3)))
    assert writer.flush(timeout=10)
    assert grown(before, counts()) == totals(stored=13, recovered=3, quarantined=1, corrupt=1)
    assert gauge("dgen_ping_telemetry_backlog_events") == 0
    assert gauge("dgen_ping_telemetry_store_state", store="dead", state="down") == 1
    assert gauge("dgen_ping_telemetry_store_state", store="files", state="up") == 1
    assert gauge("dgen_ping_telemetry_store_active", store="files") == 1
    assert gauge("dgen_ping_telemetry_status", status="csv_fallback") == 1
