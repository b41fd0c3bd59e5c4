"""The schema fuzzed against the gateway as `make run` configures it: development settings
(DEBUG=true, the default token allowed, the local development provider) under runserver.
Operations that accept no token say so in the schema, and are not required to refuse a
request without one. See tests/fuzz/harness.py."""

import tempfile
from pathlib import Path

import pytest

from tests.fuzz import harness
from tests.fuzz.conftest import development_env

pytestmark = pytest.mark.slow


def development_schema() -> dict:
    with tempfile.TemporaryDirectory() as directory:
        return harness.served_schema(development_env(Path(directory)))


MODE = harness.Mode("development", development_schema())
with_credentials = MODE.load(generated_credentials=False)
without_credentials = MODE.load(generated_credentials=True)


@pytest.fixture(scope="module")
def credentials(development_gateway) -> dict:
    return harness.credentials_for(development_gateway)


def test_the_live_gateway_serves_the_schema_being_fuzzed(development_gateway):
    response = development_gateway.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json() == MODE.schema


@with_credentials.parametrize()
@harness.SETTINGS
def test_operations_with_valid_credentials(case, development_gateway, credentials):
    headers = harness.headers_for(case.operation, credentials)
    response = harness.call_and_validate(case, development_gateway.url, headers)
    MODE.record("with", case, response)


@without_credentials.parametrize()
@harness.SETTINGS
def test_operations_without_valid_credentials(case, development_gateway):
    MODE.record("without", case, harness.call_and_validate(case, development_gateway.url))


def test_sequences_of_calls_along_the_schemas_links(development_gateway, credentials):
    harness.run_stateful(with_credentials, development_gateway.url, credentials)


def test_every_operation_was_served_with_credentials_and_refused_without():
    """Last in the module, so it sees both runs. `pytest -s` prints the requests sent."""
    MODE.check_every_operation_was_served_and_protected()
