"""Every operation of the published OpenAPI schema, fuzzed over real HTTP by schemathesis, in
one configuration of the gateway (a Mode: production or development settings).

The schema is the one the configuration serves: at collection time (schemathesis makes one
test per operation from it then, before any server runs) `manage.py spectacular` prints it
with the mode's settings, and a test checks that the live gateway serves exactly that
document. Every phase runs, with every check:

- examples, coverage (boundary and invalid values, missing headers, methods the operation
  does not take) and fuzzing, per operation, twice: with valid credentials (a real JWT from
  /generate-token, the token secret for the administrators' endpoints), and with none or
  generated junk;
- stateful: sequences of calls that feed one answer into the next request (the schema's
  OpenAPI links, e.g. a token issued, then verified), with valid credentials.

Every response must be documented (status, content type, headers, body), never a 5xx;
schema-valid requests must be served and invalid ones refused; a protected operation must not
answer without credentials. The last test of a mode checks that every operation was served
(a 2xx) with credentials and every protected one refused without.

FUZZ_EXAMPLES sets the random examples per operation (default 5, for CI), FUZZ_SEED the seed
(default: random; a failure prints it). docs/security.md has the long run.
"""

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import hypothesis
import pytest
import schemathesis

from telemetry.serializers import encode_cursor
from tests.telemetry import servers

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
STATEFUL_STEPS = int(os.environ.get("FUZZ_STATEFUL_STEPS", "10"))
ADMIN_SCHEME = "TokenSecret"
SOEID = "fuzzer"


def served_schema(env: dict) -> dict:
    """The OpenAPI document of the configuration `env` describes, as /api/schema/ serves it."""
    command = [sys.executable, "manage.py", "spectacular", "--format", "openapi-json"]
    result = subprocess.run(
        command, cwd=servers.ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def schemathesis_config(models: list[str], *, generated_credentials: bool) -> schemathesis.Config:
    data = {
        "generation": {
            "max-examples": EXAMPLES,
            # Junk X-API-Token/Authorization/X-Token-Secret values, or only ours.
            "with-security-parameters": generated_credentials,
        },
        "checks": {"enabled": True},
        # Valid values often enough that requests get past validation to the upstream.
        "dictionaries": {
            "models": {"values": models or ["gemini"]},
            "soeids": {"values": [SOEID]},
            "cursors": {"values": [encode_cursor(("2026-11-01T08:00:00.000Z", "e" * 32))]},
        },
        "parameters": {
            "body.model": {"dictionary": "models", "probability": 0.8},
            "path.model": {"dictionary": "models", "probability": 0.5},
            "body.soeid": {"dictionary": "soeids", "probability": 0.5},
            "query.soeid": {"dictionary": "soeids", "probability": 0.5},
            "query.cursor": {"dictionary": "cursors", "probability": 0.5},
        },
    }
    if os.environ.get("FUZZ_SEED"):
        data["seed"] = int(os.environ["FUZZ_SEED"])
    return schemathesis.Config.from_dict(data)


SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    stateful_step_count=STATEFUL_STEPS,
)


@dataclass
class Mode:
    """One configuration of the gateway under test, and what its fuzzing saw."""

    name: str
    schema: dict
    # Statuses received, by run ("with"/"without" credentials) and operation.
    answers: dict = field(default_factory=lambda: defaultdict(Counter))

    @property
    def models(self) -> list[str]:
        """The model names the schema lists, of every kind (llmproxy.serializers: ChatModel,
        EmbeddingModel). Schemathesis uses a name where the schema allows it."""
        schemas = self.schema["components"]["schemas"]
        kinds = ("ChatModel", "EmbeddingModel")
        return [name for kind in kinds for name in schemas.get(kind, {}).get("enum", [])]

    def load(self, *, generated_credentials: bool):
        config = schemathesis_config(self.models, generated_credentials=generated_credentials)
        return schemathesis.openapi.from_dict(self.schema, config=config)

    def operation_labels(self, *, protected: bool | None = None) -> set[str]:
        return {
            f"{method.upper()} {path}"
            for path, operations in self.schema["paths"].items()
            for method, operation in operations.items()
            if protected is None or ({} not in operation.get("security", [])) == protected
        }

    def record(self, run: str, case, response) -> None:
        self.answers[run, case.operation.label][response.status_code] += 1

    def check_every_operation_was_served_and_protected(self) -> None:
        for (run, label), statuses in sorted(self.answers.items()):
            counts = dict(sorted(statuses.items()))
            print(f"{self.name:>11} {run:>7} credentials  {label:<28} {counts}")
        assert {label for _, label in self.answers} == self.operation_labels()
        for label in self.operation_labels():
            served = self.answers["with", label]
            assert any(200 <= status < 300 for status in served), (label, served)
        for label in self.operation_labels(protected=True):
            refused = self.answers["without", label]
            assert refused[401] + refused[403] > 0, (label, refused)


def tests_for(mode: Mode) -> dict:
    """The tests of a mode, for its module's globals; they run against the module's `served`
    fixture (the gateway in that configuration)."""
    with_credentials = mode.load(generated_credentials=False)
    without_credentials = mode.load(generated_credentials=True)

    @pytest.fixture(scope="module")
    def credentials(served) -> dict:
        return credentials_for(served)

    def test_the_live_gateway_serves_the_schema_being_fuzzed(served):
        response = served.get("/api/schema/?format=json")
        assert response.status_code == 200
        assert response.json() == mode.schema

    @with_credentials.parametrize()
    @SETTINGS
    def test_operations_with_valid_credentials(case, served, credentials):
        headers = headers_for(case.operation, credentials)
        try:
            response = case.call_and_validate(base_url=served.url, headers=headers)
        finally:
            if case.path.startswith("/api/budgets"):
                # A budget set here would refuse every LLM call fuzzed after it (403 for a
                # model without a price, 429 past a limit): each operation gets a clean slate.
                remove_every_budget(served, credentials[ADMIN_SCHEME])
        mode.record("with", case, response)

    @without_credentials.parametrize()
    @SETTINGS
    def test_operations_without_valid_credentials(case, served):
        mode.record("without", case, case.call_and_validate(base_url=served.url))

    def test_sequences_of_calls_along_the_schemas_links(served, credentials):
        run_stateful(with_credentials, served, credentials)

    def test_every_operation_was_served_with_credentials_and_refused_without():
        """Last in the module, so it sees both runs. `pytest -s` prints the requests sent."""
        mode.check_every_operation_was_served_and_protected()

    return {name: value for name, value in locals().items() if name.startswith("test_")} | {
        "credentials": credentials
    }


def credentials_for(gateway) -> dict:
    """Valid credentials by security scheme: a real JWT, and the token secret."""
    token = gateway.issue_token(SOEID, project_id="fuzzing")
    return {
        "ApiToken": {"X-API-Token": token},
        "BearerAuth": {"Authorization": f"Bearer {token}"},
        ADMIN_SCHEME: {"X-Token-Secret": gateway.token_secret},
    }


def headers_for(operation, credentials: dict) -> dict:
    """The credentials an operation declares: the secret for admin endpoints, a JWT else;
    Bearer on /v1 (as OpenAI SDKs send it), X-API-Token on the others."""
    schemes = {name for option in operation.definition.raw.get("security", []) for name in option}
    if ADMIN_SCHEME in schemes:
        return credentials[ADMIN_SCHEME]
    if not schemes:
        return {}
    return credentials["BearerAuth" if operation.path.startswith("/v1") else "ApiToken"]


def run_stateful(schema, served, credentials: dict) -> None:
    """Sequences of calls along the schema's links, each call with its valid credentials.

    Each sequence starts with no budgets: the list a link draws a budget from is then made by
    the sequence's own calls, so hypothesis can replay a sequence and get the same choices
    (with budgets left over from earlier sequences, it cannot: FlakyStrategyDefinition)."""
    workflow = schema.as_state_machine()

    class Calls(workflow):
        def setup(self):
            remove_every_budget(served, credentials[ADMIN_SCHEME])

        def get_call_kwargs(self, case):
            return {"base_url": served.url, "headers": headers_for(case.operation, credentials)}

    Calls.run(settings=SETTINGS)


def remove_every_budget(served, headers: dict) -> None:
    budgets = served.get("/api/budgets", **headers)
    assert budgets.status_code == 200, budgets.text
    for budget in budgets.json():
        served.session.delete(f"{served.url}/api/budgets/{budget['id']}", headers=headers)


def routes_file(directory: Path, routing: dict) -> Path:
    path = directory / "routes.json"
    path.write_text(json.dumps(routing))
    return path
