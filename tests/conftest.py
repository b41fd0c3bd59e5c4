"""Fixtures shared by every test package."""

import uuid
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.tokens import issue_token
from telemetry.backends.csv import CSVBackend
from telemetry.writer import get_writer
from tests import mongo_server as mongo
from tests.redis_server import redis_url  # noqa: F401 (a fixture: one redis-server a module)


@pytest.fixture
def client():
    """DRF's test client: real request/response cycle through every middleware."""
    return APIClient()


@pytest.fixture
def secret_headers():
    return {"HTTP_X_TOKEN_SECRET": settings.TOKEN_SECRET}


@pytest.fixture
def user_token(db):
    return issue_token(soeid="alice", project_id="proj-a").token


@pytest.fixture
def default_token_on(settings):
    settings.ALLOW_DEFAULT_TOKEN = True


class Recorded:
    """The events the pipeline stored, read back from the CSV store after a flush."""

    def __init__(self, directory: Path):
        self.store = CSVBackend(directory)

    def events(self) -> list[dict]:
        assert get_writer().flush(timeout=10)
        return list(self.store.iter_events())

    def one(self) -> dict:
        events = self.events()
        assert len(events) == 1, events
        return events[0]


@pytest.fixture
def csv_config(tmp_path) -> dict:
    return {
        "BACKEND": "telemetry.backends.csv.CSVBackend",
        "OPTIONS": {"directory": tmp_path / "csv", "max_bytes": 10 * 1024 * 1024},
    }


@pytest.fixture
def recorded(settings, tmp_path, csv_config) -> Recorded:
    """The whole pipeline (middleware -> spool -> writer -> CSV) in this test's directories."""
    settings.TELEMETRY = {
        **settings.TELEMETRY,
        "STORES": {"csv": csv_config},
        "CHAIN": ["csv"],
        "SPOOL_DIR": tmp_path / "spool",
        "QUARANTINE_DIR": tmp_path / "quarantine",
        "FLUSH_INTERVAL": 0.05,
    }
    settings.TELEMETRY_BACKEND = "csv"
    return Recorded(tmp_path / "csv")


# --- a real MongoDB-protocol server (tests/mongo_server.py) ----------------------------------


def _require_secantus() -> None:
    if not mongo.available():
        pytest.fail(
            f"No MongoDB test server: {mongo.SECANTUSD} is missing. `make test` installs "
            "SecantusDB into .mongo-venv; or set TEST_MONGO_URI to a running mongod."
        )


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory):
    """One real server shared by the tests that do not stop it (each uses its own database)."""
    if mongo.EXTERNAL_URI:
        yield mongo.ExternalServer(mongo.EXTERNAL_URI)
        return
    _require_secantus()
    server = mongo.MongoServer(tmp_path_factory.mktemp("mongo") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def mongo_db(mongo_server):
    """A database of its own on the shared server, dropped afterwards."""
    name = f"dgen_test_{uuid.uuid4().hex[:10]}"
    yield name
    with mongo_server.client() as client:
        client.drop_database(name)


@pytest.fixture
def mongo_servers(tmp_path):
    """mongo_servers(n): n fresh servers this test may kill and restart (SecantusDB, with
    --sync-on-commit so that what they acknowledged survives a SIGKILL); all stopped after."""
    _require_secantus()
    started: list[mongo.MongoServer] = []

    def start(count: int = 1) -> list[mongo.MongoServer]:
        servers = []
        for _ in range(count):
            path = tmp_path / f"mongo{len(started)}" / "data"
            started.append(mongo.MongoServer(path, sync_on_commit=True))
            servers.append(started[-1])
            servers[-1].launch()  # side by side: they come up together
        for server in servers:
            server.wait_until_serving()
        return servers

    yield start
    for server in started:
        server.kill()
