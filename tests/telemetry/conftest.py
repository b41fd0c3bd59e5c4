"""Fixtures for the telemetry tests: private stores and spools in temporary directories."""

from pathlib import Path

import pytest

from telemetry.backends.csv import CSVBackend
from telemetry.schema import build_event
from telemetry.writer import get_writer
from tests.telemetry import fakes

FLAKY_CLIENT = "tests.telemetry.fakes.FlakyMongoClient"


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


@pytest.fixture
def flaky_mongo():
    """fakes.down(uri) / fakes.up(uri) switch a fake Mongo URI off and on."""
    fakes.reset()
    yield fakes
    fakes.reset()


def make_event(**fields) -> dict:
    defaults = {"event_type": "http_request", "method": "GET", "status_code": 200}
    return build_event(**{**defaults, **fields})
