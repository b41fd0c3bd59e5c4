"""Every operation of the published OpenAPI schema, fuzzed over real HTTP by schemathesis.

The gateway runs under gunicorn in production mode. The schema is what /api/schema/ serves;
it is read through Django's test client when the module is collected (schemathesis makes one
test per operation from it then, before any server runs), and a test checks that the live
gateway serves exactly the same document. Each operation gets generated requests (examples,
boundary and invalid values, missing headers, undeclared methods, then random data) twice:
with valid credentials (a real JWT from /generate-token, or the token secret for the
administrators' endpoints), and with none or generated junk. Every response must be a
documented status with a documented content type and a body matching its schema, never a
5xx; invalid data must be refused and a protected operation must not answer without auth.

FUZZ_EXAMPLES sets the random examples per operation and run (default 20), FUZZ_SEED the
seed (default: random; a failure prints it). docs/security.md has the long run.
"""

import os
from collections import Counter, defaultdict

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.test import Client, override_settings
from hypothesis import HealthCheck, settings

from telemetry.serializers import encode_cursor
from tests.security.gateway import routes

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "ignored_auth",
]
ADMIN_SCHEME = "TokenSecret"
MODELS = ["gemini", "solo", "google", "gated", "vectors"]  # tests/security/gateway.py's routes
SOEID = "fuzzer"


class _Nowhere:
    """Upstream URLs for a routing table that is only read, never called."""

    openai_url = gemini_url = token_url = "http://127.0.0.1:9"


def served_schema() -> dict:
    # The schema lists the gateway's models: build it from the fuzzed gateway's routes.
    llm = {**django_settings.LLM, "ROUTES": routes(_Nowhere())}
    # Collection runs outside any test, so ALLOWED_HOSTS has no "testserver" yet.
    with override_settings(LLM=llm):
        response = Client().get("/api/schema/", {"format": "json"}, HTTP_HOST="localhost")
    assert response.status_code == 200, response.content
    return response.json()


def config(*, generated_credentials: bool) -> schemathesis.Config:
    data = {
        "generation": {
            "max-examples": EXAMPLES,
            # Junk X-API-Token/Authorization/X-Token-Secret values, or only ours.
            "with-security-parameters": generated_credentials,
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        # Valid values often enough that requests get past validation to the upstream.
        "dictionaries": {
            "models": {"values": MODELS},
            "soeids": {"values": [SOEID]},
            "moments": {"values": ["7d", "12h", "2026-01-01", "2026-11-01T08:00:00Z"]},
            "cursors": {"values": [encode_cursor(("2026-11-01T08:00:00.000Z", "e" * 32))]},
        },
        "parameters": {
            "body.model": {"dictionary": "models", "probability": 0.8},
            "path.model": {"dictionary": "models", "probability": 0.5},
            "body.soeid": {"dictionary": "soeids", "probability": 0.5},
            # Report filters: opaque cursors and dates are rarely valid when random.
            "query.since": {"dictionary": "moments", "probability": 0.6},
            "query.until": {"dictionary": "moments", "probability": 0.3},
            "query.cursor": {"dictionary": "cursors", "probability": 0.8},
            "query.soeid": {"dictionary": "soeids", "probability": 0.5},
        },
    }
    if os.environ.get("FUZZ_SEED"):
        data["seed"] = int(os.environ["FUZZ_SEED"])
    return schemathesis.Config.from_dict(data)


def load(*, generated_credentials: bool):
    return schemathesis.openapi.from_dict(
        SCHEMA, config=config(generated_credentials=generated_credentials)
    )


def operation_labels(*, public: bool | None = None) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, operations in SCHEMA["paths"].items()
        for method, operation in operations.items()
        if public is None or (operation.get("security") == [{}]) == public
    }


SCHEMA = served_schema()
with_credentials = load(generated_credentials=False)
without_credentials = load(generated_credentials=True)
fuzz_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# Statuses received, by run and operation: what the last test checks and prints.
ANSWERS: dict[tuple[str, str], Counter] = defaultdict(Counter)


@pytest.fixture(scope="module")
def credentials(gateway) -> dict:
    """Valid credentials by security scheme: a real JWT, and the token secret."""
    token = gateway.issue_token(SOEID, project_id="fuzzing")
    return {
        "ApiToken": {"X-API-Token": token},
        "BearerAuth": {"Authorization": f"Bearer {token}"},
        ADMIN_SCHEME: {"X-Token-Secret": gateway.token_secret},
    }


def headers_for(operation, credentials: dict) -> dict:
    """The credentials an operation declares: the secret for admin endpoints, a JWT else;
    Bearer on /v1 (as OpenAI SDKs send it), X-API-Token on the seed's endpoints."""
    schemes = {name for option in operation.definition.raw.get("security", []) for name in option}
    if ADMIN_SCHEME in schemes:
        return credentials[ADMIN_SCHEME]
    if not schemes:
        return {}
    return credentials["BearerAuth" if operation.path.startswith("/v1") else "ApiToken"]


def test_the_live_gateway_serves_the_schema_being_fuzzed(gateway):
    response = gateway.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json() == SCHEMA


@with_credentials.parametrize()
@fuzz_settings
def test_operations_with_valid_credentials(case, gateway, credentials):
    headers = headers_for(case.operation, credentials)
    response = case.call_and_validate(base_url=gateway.url, headers=headers)
    ANSWERS["with", case.operation.label][response.status_code] += 1


@without_credentials.parametrize()
@fuzz_settings
def test_operations_without_valid_credentials(case, gateway):
    response = case.call_and_validate(base_url=gateway.url)
    ANSWERS["without", case.operation.label][response.status_code] += 1


def test_every_operation_was_served_with_credentials_and_refused_without():
    """Last in the module, so it sees both runs: every operation reached its view (a 2xx)
    with valid credentials, and every protected one was refused (401/403) without. A run
    that silently sent nothing, or credentials that never applied, fails here.
    `pytest -s` prints the requests sent, by operation and status."""
    for (run, label), statuses in sorted(ANSWERS.items()):
        print(f"{run:>7} credentials  {label:<28} {dict(sorted(statuses.items()))}")
    assert {label for _, label in ANSWERS} == operation_labels()
    for label in operation_labels():
        served = ANSWERS["with", label]
        assert any(200 <= status < 300 for status in served), (label, served)
    for label in operation_labels(public=False):
        refused = ANSWERS["without", label]
        assert refused[401] + refused[403] > 0, (label, refused)
