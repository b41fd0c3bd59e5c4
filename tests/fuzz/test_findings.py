"""What the fuzzer found, pinned as plain, fast tests of the fixed behaviour.

docs/security.md lists the findings; the fuzz run itself is tests/fuzz/test_openapi.py.
"""

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

LLM_PATHS = ["/api/llm/completion", "/api/llm/chat"]
JSON_ENDPOINTS = [
    "/generate-token",
    "/verify-token",
    "/telemetry",
    "/api/llm/completion",
    "/api/llm/chat",
    "/v1/chat/completions",
]


@pytest.fixture
def headers(user_token, secret_headers) -> dict:
    return {"HTTP_X_API_TOKEN": user_token, **secret_headers}


@pytest.mark.parametrize("path", LLM_PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "TRACE"])
def test_a_method_the_llm_endpoints_do_not_take_is_405_not_500(client, headers, path, method):
    response = client.generic(method, path, **headers)
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"


@pytest.mark.parametrize("path", LLM_PATHS)
def test_options_on_the_llm_endpoints_answers(client, headers, path):
    assert client.options(path, **headers).status_code == 200


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_the_api_takes_json_only(client, headers, path, content_type):
    # Form input read "" as "not given", so a blank value the schema forbids got through.
    response = client.post(path, "soeid=x", content_type=content_type, **headers)
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/generate-token", {"soeid": "a", "project_id": 0}, "project_id"),
        ("/generate-token", {"soeid": 12345}, "soeid"),
        ("/verify-token", {"token": 0}, "token"),
        ("/telemetry", {"request_id": 7}, "request_id"),
        ("/telemetry", {"metadata": {"endpoint": 1.5}}, "metadata"),
        ("/telemetry", {"metadata": {"status_code": "200"}}, "metadata"),
        ("/api/llm/completion", {"prompt": 42}, "prompt"),
        ("/api/llm/completion", {"prompt": "x", "project_name": 1}, "project_name"),
        ("/api/llm/completion", {"prompt": "x", "temperature": False}, "temperature"),
        ("/api/llm/completion", {"prompt": "x", "temperature": "0.5"}, "temperature"),
        ("/api/llm/completion", {"prompt": "x", "max_tokens": "10"}, "max_tokens"),
        ("/api/llm/completion", {"prompt": "x", "max_tokens": True}, "max_tokens"),
        ("/api/llm/completion", {"prompt": "x", "stream": "yes"}, "stream"),
    ],
)
def test_a_value_not_of_the_documented_json_type_is_400(client, headers, path, body, field):
    response = client.post(path, body, content_type="application/json", **headers)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_openai_user_must_be_a_string(client, headers):
    body = {"model": "gemini", "messages": [{"role": "user", "content": "x"}], "user": 9}
    response = client.post("/v1/chat/completions", body, content_type="application/json", **headers)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "user"


@pytest.fixture(scope="module")
def operations() -> list[tuple[str, str, dict]]:
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [(path, method, op) for path, ops in paths.items() for method, op in ops.items()]


def test_every_operation_documents_the_refusals_it_can_give(operations):
    for path, method, operation in operations:
        statuses = operation["responses"].keys()
        if "requestBody" in operation:
            assert {"400", "411", "413"} <= statuses, (method, path)
        if "ApiToken" in str(operation["security"]):
            assert {"401", "429"} <= statuses, (method, path)
        if "TokenSecret" in str(operation["security"]):
            assert "403" in statuses, (method, path)


def test_streamed_answers_are_documented_as_event_streams(operations):
    for path, _, operation in operations:
        if path in [*LLM_PATHS, "/v1/chat/completions"]:
            content = operation["responses"]["200"]["content"]
            assert {"application/json", "text/event-stream"} <= content.keys(), path


def test_message_content_is_documented_as_text_or_text_parts():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    content = schema["components"]["schemas"]["MessageInputRequest"]["properties"]["content"]
    assert [option["type"] for option in content["oneOf"]] == ["string", "array"]
