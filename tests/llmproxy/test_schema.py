"""The published schema states the constraints the LLM endpoints enforce (the fuzz suite,
tests/fuzz, holds the whole API to it; these pin the LLM ones down)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def request_schema(schema: dict, path: str) -> dict:
    ref = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]


def enum_of(schema: dict, prop: dict) -> list:
    ref = next(part["$ref"] for part in prop.get("allOf", [prop]) if "$ref" in part)
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["enum"]


@pytest.mark.parametrize("path", ["/api/llm/chat", "/v1/chat/completions"])
def test_messages_may_not_be_empty(schema, path):
    assert request_schema(schema, path)["properties"]["messages"]["minItems"] == 1


@pytest.mark.parametrize(
    ("path", "models"),
    [
        ("/api/llm/completion", ["backup", "gated", "gemini", "google", "solo", "solo-alias"]),
        ("/v1/chat/completions", ["backup", "gated", "gemini", "google", "solo", "solo-alias"]),
        ("/v1/embeddings", ["gvectors", "vectors"]),
    ],
)
def test_models_are_the_routing_tables_of_the_right_kind(schema, path, models):
    assert enum_of(schema, request_schema(schema, path)["properties"]["model"]) == models


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/llm/completion", "max_tokens"),
        ("/v1/chat/completions", "max_tokens"),
        ("/v1/chat/completions", "max_completion_tokens"),
    ],
)
def test_output_tokens_state_the_limit(schema, path, field):
    limits = request_schema(schema, path)["properties"][field]
    assert (limits["minimum"], limits["maximum"]) == (1, 32768)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings"])
def test_an_unknown_model_is_a_documented_404(schema, path):
    assert "404" in schema["paths"][path]["post"]["responses"]
