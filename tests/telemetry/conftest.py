"""Fixtures for the telemetry tests (the pipeline fixture `recorded` is in tests/conftest.py)."""

import uuid
from pathlib import Path

import pytest

from telemetry import backends
from telemetry.backends.csv import CSVBackend
from telemetry.backends.mongo import MongoBackend
from telemetry.histogram import RELATIVE_ERROR
from telemetry.schema import build_event
from tests.telemetry import fakes

FLAKY_CLIENT = "tests.telemetry.fakes.FlakyMongoClient"


@pytest.fixture
def flaky_mongo():
    """fakes.down(uri) / fakes.up(uri) switch a fake Mongo URI off and on."""
    fakes.reset()
    yield fakes
    fakes.reset()


@pytest.fixture(params=["csv", "mongomock", "mongodb"])
def backend(request, tmp_path):
    """Each store in turn: CSV, mongomock, a real MongoDB-protocol server (SecantusDB, or
    the mongod at TEST_MONGO_URI)."""
    if request.param == "csv":
        store = CSVBackend(tmp_path)
    elif request.param == "mongomock":
        # Its own data (fakes.server keeps each URI's): mongomock, behind the fake that
        # passes it the rollups' bulk writes.
        uri = f"mongodb://store-{uuid.uuid4().hex[:8]}"
        store = MongoBackend(uri=uri, client_factory=FLAKY_CLIENT)
    else:
        server = request.getfixturevalue("mongo_server")
        store = MongoBackend(uri=server.uri, db_name=request.getfixturevalue("mongo_db"))
    yield store
    store.close()


def make_event(**fields) -> dict:
    defaults = {"event_type": "http_request", "method": "GET", "status_code": 200}
    return build_event(**{**defaults, **fields})


# --- Reports (export, stats, replay, the usage API) ----------------------------------------

REPORT_MONGO = "mongodb://reports:27017"
CSV_BACKEND = "telemetry.backends.csv.CSVBackend"
MONGO_BACKEND = "telemetry.backends.mongo.MongoBackend"


def near(latency: float | None):
    """A latency percentile as reports give it: from the rollups' histograms, within their
    stated error of the exact nearest-rank value (telemetry.histogram)."""
    return None if latency is None else pytest.approx(latency, rel=RELATIVE_ERROR)


def at(day: int, hour: int = 12, minute: int = 0, ms: int = 0) -> str:
    return f"2025-01-{day:02d}T{hour:02d}:{minute:02d}:00.{ms:03d}Z"


def report_events() -> list[dict]:
    """Six events whose usage figures the report tests compute by hand."""
    return [
        make_event(soeid="alice", project_name="p1", model="gemini", timestamp=at(1, 10),
                   latency_ms=100.0, prompt_tokens=10, completion_tokens=20, total_tokens=30,
                   cost=0.25, token_jti="jti-a"),
        make_event(soeid="alice", project_name="p1", model="gemini", timestamp=at(1, 11),
                   latency_ms=300.0, prompt_tokens=5, completion_tokens=5, total_tokens=10,
                   status_code=500, error="upstream failed"),
        make_event(soeid="alice", project_name="p2", model="gpt", timestamp=at(2, 9),
                   latency_ms=200.0, prompt_tokens=1, completion_tokens=2, total_tokens=3,
                   cost=0.125, token_jti="jti-a"),
        make_event(soeid="bob", project_name="p1", model="gemini", timestamp=at(2, 10),
                   latency_ms=50.0, prompt_tokens=100, completion_tokens=200, total_tokens=300,
                   cost=1.5, token_jti="jti-b"),
        make_event(soeid="bob", project_name="p1", model="gpt", timestamp=at(3, 0),
                   latency_ms=400.0, status_code=429),
        make_event(soeid="carol", project_name="p2", model="gemini", timestamp=at(3, 12),
                   event_type="custom_event"),
    ]  # fmt: skip


def use_store(settings, tmp_path: Path, kind: str, mongo_uri: str = "", db_name: str = ""):
    """Make a CSV, a (mongomock) Mongo, or with `mongo_uri` a real MongoDB store the chain's
    first; return it.

    The reports' own requests are not recorded, so they cannot change what they report.
    """
    mongo = {"uri": REPORT_MONGO, "client_factory": FLAKY_CLIENT}
    if mongo_uri:
        mongo = {"uri": mongo_uri, "db_name": db_name}
    stores = {
        "csv": {"BACKEND": CSV_BACKEND, "OPTIONS": {"directory": tmp_path / "store"}},
        "mongo": {"BACKEND": MONGO_BACKEND, "OPTIONS": mongo},
    }
    fallback = {"BACKEND": CSV_BACKEND, "OPTIONS": {"directory": tmp_path / "fallback"}}
    settings.TELEMETRY_MONGO = {
        "BACKEND": MONGO_BACKEND,
        "OPTIONS": {"client_factory": FLAKY_CLIENT},
    }
    settings.CSV_FALLBACK_DIR = tmp_path / "fallback"
    settings.TELEMETRY_BACKEND = kind
    settings.TELEMETRY = {
        **settings.TELEMETRY,
        "STORES": {kind: stores[kind], "fallback": fallback},
        "CHAIN": [kind, "fallback"],
        "SPOOL_DIR": tmp_path / "spool",
        "QUARANTINE_DIR": tmp_path / "quarantine",
        "EXCLUDED_PATHS": [*settings.TELEMETRY["EXCLUDED_PATHS"], "/api/telemetry/"],
    }
    return backends.stores[kind]


@pytest.fixture(params=["csv", "mongomock", "mongodb"])
def report_store(request, settings, tmp_path, flaky_mongo):
    """Each report test on CSV, on mongomock, and on a real MongoDB-protocol server."""
    if request.param == "mongodb":
        server = request.getfixturevalue("mongo_server")
        db_name = request.getfixturevalue("mongo_db")
        return use_store(settings, tmp_path, "mongo", server.uri, db_name)
    return use_store(settings, tmp_path, request.param.replace("mongomock", "mongo"))


@pytest.fixture
def reported(report_store) -> list[dict]:
    events = report_events()
    report_store.write_batch(events)
    return events
