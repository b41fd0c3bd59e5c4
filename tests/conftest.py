"""Fixtures shared by every test package."""

from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.tokens import issue_token
from telemetry.backends.csv import CSVBackend
from telemetry.writer import get_writer
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
        **csv_config,
        "FALLBACK": csv_config,
        "SPOOL_DIR": tmp_path / "spool",
        "FLUSH_INTERVAL": 0.05,
    }
    settings.TELEMETRY_BACKEND = "csv"
    return Recorded(tmp_path / "csv")
