"""The schema fuzzed against the gateway as deployed: production settings under gunicorn, a
routing table aimed at the fake upstream (tests/security/gateway.py). See tests/fuzz/harness.py."""

import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fuzz import harness
from tests.security.gateway import routes
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
        routing = harness.routes_file(Path(directory), routes(nowhere))
        env = servers.server_env(Path(directory), 0, LLM_ROUTES_FILE=str(routing))
        return harness.served_schema(env)


MODE = harness.Mode("production", production_schema())
with_credentials = MODE.load(generated_credentials=False)
without_credentials = MODE.load(generated_credentials=True)


@pytest.fixture(scope="module")
def credentials(gateway) -> dict:
    return harness.credentials_for(gateway)


def test_the_live_gateway_serves_the_schema_being_fuzzed(gateway):
    response = gateway.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json() == MODE.schema


@with_credentials.parametrize()
@harness.SETTINGS
def test_operations_with_valid_credentials(case, gateway, credentials):
    headers = harness.headers_for(case.operation, credentials)
    MODE.record("with", case, harness.call_and_validate(case, gateway.url, headers))


@without_credentials.parametrize()
@harness.SETTINGS
def test_operations_without_valid_credentials(case, gateway):
    MODE.record("without", case, harness.call_and_validate(case, gateway.url))


def test_sequences_of_calls_along_the_schemas_links(gateway, credentials):
    harness.run_stateful(with_credentials, gateway.url, credentials)


def test_every_operation_was_served_with_credentials_and_refused_without():
    """Last in the module, so it sees both runs. `pytest -s` prints the requests sent."""
    MODE.check_every_operation_was_served_and_protected()
