"""The schema fuzzed against the gateway as deployed: production settings under gunicorn, a
routing table of OpenAI-compatible routes aimed at the fake upstream (tests/fuzz/conftest.py).
The tests are those of tests/fuzz/harness.py."""

import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fuzz import harness
from tests.fuzz.conftest import fuzzed_routes
from tests.telemetry import servers

pytestmark = pytest.mark.slow


def production_schema() -> dict:
    # The routes' model names are what the schema shows; the addresses do not matter here.
    nowhere = SimpleNamespace(
        openai_url="http://127.0.0.1:9/v1",
        gemini_url="http://127.0.0.1:9/v1beta",
        token_url="http://127.0.0.1:9/oauth/token",
    )
    with tempfile.TemporaryDirectory() as directory:
        routing = harness.routes_file(Path(directory), fuzzed_routes(nowhere))
        env = servers.server_env(Path(directory), 0, LLM_ROUTES_FILE=str(routing))
        return harness.served_schema(env)


@pytest.fixture(scope="module")
def served(fuzzed_gateway):
    return fuzzed_gateway


MODE = harness.Mode("production", production_schema())
globals().update(harness.tests_for(MODE))
