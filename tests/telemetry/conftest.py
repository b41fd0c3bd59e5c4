"""Fixtures for the telemetry tests (the pipeline fixture `recorded` is in tests/conftest.py)."""

import pytest

from telemetry.schema import build_event
from tests.telemetry import fakes

FLAKY_CLIENT = "tests.telemetry.fakes.FlakyMongoClient"


@pytest.fixture
def flaky_mongo():
    """fakes.down(uri) / fakes.up(uri) switch a fake Mongo URI off and on."""
    fakes.reset()
    yield fakes
    fakes.reset()


def make_event(**fields) -> dict:
    defaults = {"event_type": "http_request", "method": "GET", "status_code": 200}
    return build_event(**{**defaults, **fields})
