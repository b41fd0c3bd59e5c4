"""/v1: the official `openai` SDK, unchanged, against a live gateway (our JWT as its key)."""

import openai
import pytest
from django.test import Client

from tests.llmproxy.helpers import event_fields, post

pytestmark = pytest.mark.django_db(transaction=True)

HI = [{"role": "user", "content": "Hi there"}]


def sdk_client(live_server, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0)


@pytest.fixture
def sdk(live_server, user_token):
    # Closed at the end of each test: a keep-alive connection left open would keep a live
    # server thread waiting past the end of the session.
    with sdk_client(live_server, user_token) as client:
        yield client


def test_sdk_chat_completion(sdk, fake):
    completion = sdk.chat.completions.create(model="gemini", messages=HI, temperature=0.5)
    assert completion.choices[0].message.content == "Fake answer to: Hi there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gemini"
    seen = fake.requests_for("up-main")[0]
    assert completion.usage.prompt_tokens == seen.usage["prompt_tokens"]
    assert completion.usage.total_tokens == seen.total_tokens
    assert fake.requests_for("up-main")[0].body["temperature"] == 0.5


def test_sdk_streaming_with_usage(sdk, fake):
    stream = sdk.chat.completions.create(
        model="google", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Fake answer to: Hi there"
    assert chunks[-1].choices == []
    usage = fake.requests_for("up-google")[0].usage
    assert chunks[-1].usage.completion_tokens == usage["completion_tokens"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_sdk_streaming_without_usage_option_sends_no_usage_chunk(sdk, fake):
    chunks = list(sdk.chat.completions.create(model="solo", messages=HI, stream=True))
    assert all(chunk.choices for chunk in chunks)


def test_sdk_lists_and_retrieves_models(sdk):
    names = [model.id for model in sdk.models.list()]
    assert names == [
        "backup",
        "gated",
        "gemini",
        "google",
        "gvectors",
        "solo",
        "solo-alias",
        "vectors",
    ]
    assert sdk.models.retrieve("solo-alias").id == "solo-alias"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("gpt-9")


def test_sdk_raises_authentication_error_for_a_bad_key(live_server, fake):
    with sdk_client(live_server, "not-a-jwt") as bad, pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="gemini", messages=HI)
    assert fake.seen == []


def test_sdk_raises_not_found_for_an_unknown_model_as_openai_does(sdk, fake):
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="gpt-9", messages=HI)
    assert caught.value.code == "model_not_found"
    assert caught.value.type == "invalid_request_error"
    assert "'gpt-9' does not exist" in caught.value.message
    assert fake.seen == []


def test_sdk_raises_rate_limit_error_for_an_upstream_429(sdk, fake):
    fake.script("up-solo", "429:30")
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="solo", messages=HI)
    assert caught.value.response.headers["retry-after"] == "30"


def test_sdk_raises_api_error_when_the_upstream_breaks_mid_stream(sdk, fake):
    fake.script("up-solo", "cut")
    with pytest.raises(openai.APIError):
        list(sdk.chat.completions.create(model="solo", messages=HI, stream=True))


# --- The error shape itself, through the test client ----------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "gemini", "messages": []}, "messages"),
        ({"model": "gemini", "messages": HI, "temperature": 3}, "temperature"),
        ({"model": "gemini", "messages": HI, "n": 0}, "n"),
        ({"model": "gemini", "messages": HI, "max_tokens": 32769}, "max_tokens"),
        (
            {"model": "gemini", "messages": HI, "max_completion_tokens": "9"},
            "max_completion_tokens",
        ),
        ({"model": "gemini", "messages": HI, "tools": [{"function": {}}]}, "tools.0.type"),
        ({"messages": HI}, "model"),
        ({"model": 7, "messages": HI}, "model"),
        ({"model": "gemini", "messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        (
            {"model": "gemini", "messages": [{"role": "user", "content": [{"text": "x"}]}]},
            "messages.0.content.0.type",
        ),
    ],
)
def test_invalid_request_is_400_in_openai_shape(client, auth, body, param):
    response = post(client, "/v1/chat/completions", body, auth)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert error["message"].startswith(f"{param}: ")


def test_missing_key_is_401_in_openai_shape(client):
    response = post(client, "/v1/chat/completions", {"model": "gemini", "messages": HI}, {})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert event_fields(response)["event_type"] == "openai_chat_completion"


def test_timeout_is_504_in_openai_shape(client, auth, fake, llm):
    llm(TIMEOUT=0.2, RETRIES=0)
    fake.script("up-solo", "hang:1")
    response = post(client, "/v1/chat/completions", {"model": "solo", "messages": HI}, auth)
    assert response.status_code == 504
    assert response.json()["error"] == {
        "message": "The upstream did not answer within 0.2 s.",
        "type": "api_error",
        "param": None,
        "code": "upstream_timeout",
    }


@pytest.mark.parametrize("method", ["get", "post"])
def test_unknown_v1_path_is_404_in_openai_shape(method, auth):
    # A client that enforces CSRF checks, as a browser-facing deployment would.
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)("/v1/nothing-here", **auth)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["code"] == "not_found"


def test_text_parts_and_developer_role_reach_the_upstream_as_sent(client, auth, fake):
    messages = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "you"}],
        },
    ]
    body = {"model": "solo", "messages": messages, "max_completion_tokens": 7}
    response = post(client, "/v1/chat/completions", body, auth)
    assert response.status_code == 200
    sent = fake.requests_for("up-solo")[0].body
    assert sent == {**body, "model": "up-solo"}  # as sent, but for the upstream's model name
    fields = event_fields(response)
    assert fields["event_type"] == "openai_chat_completion"
    assert fields["project_name"] == "proj-a"


def test_fields_the_gateway_does_not_know_reach_the_upstream_at_every_level(client, auth, fake):
    """The upstream is the authority on OpenAI's newer fields: unknown keys of the body, of a
    message, of a content part and of stream_options pass through, as sent."""
    part = {"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}
    message = {"role": "user", "content": [part], "x_trace": [1, 2.5, None]}
    body = {
        "model": "solo",
        "messages": [message],
        "stream": True,
        "stream_options": {"include_usage": True, "x_future": "yes"},
        "a_field_newer_than_the_gateway": {"nested": {"deep": True}},
    }
    response = post(client, "/v1/chat/completions", body, auth)
    assert response.status_code == 200
    b"".join(response.streaming_content)
    assert fake.requests_for("up-solo")[0].body == {**body, "model": "up-solo"}


def test_the_local_provider_embeds_offline(client, auth, llm):
    llm(
        {
            "gemini": {"provider": "local"},
            "local-embedding": {"provider": "local", "kind": "embedding"},
        }
    )
    body = {"model": "local-embedding", "input": ["a", "a", "b"], "dimensions": 4}
    vectors = [
        row["embedding"] for row in post(client, "/v1/embeddings", body, auth).json()["data"]
    ]
    assert [len(vector) for vector in vectors] == [4, 4, 4]
    assert vectors[0] == vectors[1] != vectors[2]
    assert all(-1 <= number <= 1 for number in vectors[0])
    encoded = post(client, "/v1/embeddings", {**body, "encoding_format": "base64"}, auth).json()
    assert isinstance(encoded["data"][0]["embedding"], str)
