"""The schema fuzzed against the gateway as `make run` configures it: development settings
(DEBUG=true, the default token allowed, the local development provider) under runserver.
Operations that accept no token say so in the schema, and are not required to refuse a
request without one. The tests are those of tests/fuzz/harness.py."""

import tempfile
from pathlib import Path

import pytest

from tests.fuzz import harness
from tests.fuzz.conftest import development_env

pytestmark = pytest.mark.slow


def development_schema() -> dict:
    with tempfile.TemporaryDirectory() as directory:
        return harness.served_schema(development_env(Path(directory)))


@pytest.fixture(scope="module")
def served(development_gateway):
    return development_gateway


MODE = harness.Mode("development", development_schema())
globals().update(harness.tests_for(MODE))
