"""POST /api/llm/completion and /api/llm/chat through the whole Django stack."""

import re

import pytest

from tests.llmproxy.conftest import standard_routes
from tests.llmproxy.helpers import event_fields, events, post

pytestmark = pytest.mark.django_db

COMPLETION = "/api/llm/completion"
CHAT = "/api/llm/chat"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_completion_request_and_response_shape(client, fake, auth):
    response = post(client, COMPLETION, {"prompt": "Hello, how are you?"}, auth)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"completion", "model", "finish_reason", "metadata"}
    assert body["completion"] == "Fake answer to: Hello, how are you?"
    assert body["model"] == "gemini"
    metadata = body["metadata"]
    assert metadata["request_id"] == response["X-Request-ID"]
    assert isinstance(metadata["latency"], float)
    assert ISO_UTC.match(metadata["timestamp"])
    usage = fake.requests_for("up-main")[0].usage
    assert metadata["tokens"] == {
        "prompt": usage["prompt_tokens"],
        "completion": usage["completion_tokens"],
        "total": usage["prompt_tokens"] + usage["completion_tokens"],
        "estimated": False,
    }


def test_defaults_reach_the_upstream(client, fake, auth):
    post(client, COMPLETION, {"prompt": "Hi"}, auth)
    sent = fake.requests_for("up-main")[0].body
    assert (sent["temperature"], sent["max_tokens"]) == (0.3, 10000)
    assert sent["messages"] == [{"role": "user", "content": "Hi"}]


def test_the_readmes_curl_example_works_as_written(client, fake, default_token_on):
    body = {
        "soeid": "default_user",
        "project_name": "default_project",
        "prompt": "Hello, how are you?",
        "model": "gemini",
        "temperature": 0.3,
        "max_tokens": 10000,
    }
    response = post(client, COMPLETION, body, {"HTTP_X_API_TOKEN": "1"})
    assert response.status_code == 200
    assert response.json()["model"] == "gemini"


def test_bearer_header_works_too(client, fake, user_token):
    response = post(
        client, COMPLETION, {"prompt": "Hi"}, {"HTTP_AUTHORIZATION": f"Bearer {user_token}"}
    )
    assert response.status_code == 200


def test_missing_token_is_401_and_still_an_llm_event(client, fake):
    response = post(client, COMPLETION, {"prompt": "Hi"}, {})
    assert response.status_code == 401
    assert fake.seen == []
    fields = event_fields(response)
    assert fields["event_type"] == "llm_completion"
    assert fields["error"].startswith("not_authenticated: ")


def test_event_is_annotated_with_model_route_tokens_and_sampling(client, fake, auth):
    response = post(
        client, COMPLETION, {"prompt": "Hi", "temperature": 0.9, "max_tokens": 64}, auth
    )
    fields = event_fields(response)
    seen = fake.requests_for("up-main")[0]
    usage = seen.usage
    assert fields["event_type"] == "llm_completion"
    assert fields["project_name"] == "proj-a"  # from alice's token
    assert "soeid" not in fields  # the middleware takes it from the token
    assert (fields["model"], fields["target_service"]) == ("gemini", "gemini")
    assert (fields["provider"], fields["upstream_model"]) == ("openai", "up-main")
    assert (fields["temperature"], fields["max_tokens"]) == (0.9, 64)
    assert (fields["prompt_tokens"], fields["completion_tokens"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert fields["total_tokens"] == seen.total_tokens
    assert fields["tokens_estimated"] is False
    assert fields["upstream_latency_ms"] > 0
    assert fields["error"] is None
    assert fields["extra"] == {"stream": False, "attempts": 1}
    assert "sk-test" not in str(fields)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({}, "prompt"),
        ({"prompt": "x", "temperature": 2.5}, "temperature"),
        ({"prompt": "x", "temperature": -0.1}, "temperature"),
        ({"prompt": "x", "temperature": "hot"}, "temperature"),
        ({"prompt": "x", "max_tokens": "many"}, "max_tokens"),
        ({"prompt": "x", "max_tokens": 1.5}, "max_tokens"),
        ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "x", "stream": "perhaps"}, "stream"),
        ({"prompt": "x", "soeid": "not a soeid!"}, "soeid"),
    ],
)
def test_invalid_input_is_400_with_field_detail(client, fake, auth, body, field):
    response = post(client, COMPLETION, body, auth)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    assert fake.seen == []
    fields = event_fields(response)
    assert fields["event_type"] == "llm_completion"
    assert fields["error"].startswith("invalid: ")


def test_unknown_model_is_400_listing_the_known_models(client, fake, auth):
    response = post(client, COMPLETION, {"prompt": "x", "model": "gpt-9"}, auth)
    assert response.status_code == 400
    message = response.json()["fields"]["model"][0]
    assert "Unknown model 'gpt-9'" in message
    assert "backup, gated, gemini, google, solo, solo-alias" in message


def test_body_that_is_not_json_is_400(client, fake, auth):
    response = client.post(COMPLETION, "{nope", content_type="application/json", **auth)
    assert response.status_code == 400


def test_alias_routes_to_its_model(client, fake, auth):
    response = post(client, COMPLETION, {"prompt": "x", "model": "solo-alias"}, auth)
    assert response.json()["model"] == "solo-alias"
    assert len(fake.requests_for("up-solo")) == 1


# --- Identity -------------------------------------------------------------------------------


def test_body_soeid_different_from_the_tokens_is_403(client, fake, auth):
    response = post(client, COMPLETION, {"prompt": "x", "soeid": "bob"}, auth)
    assert response.status_code == 403
    assert response.json()["code"] == "soeid_mismatch"
    assert fake.seen == []


def test_body_soeid_equal_to_the_tokens_is_fine(client, fake, auth):
    assert post(client, COMPLETION, {"prompt": "x", "soeid": "alice"}, auth).status_code == 200


@pytest.mark.usefixtures("default_token_on")
@pytest.mark.parametrize(("soeid", "recorded"), [("carol", "carol"), (None, "default_user")])
def test_with_the_default_token_the_body_says_who_calls(client, fake, soeid, recorded):
    body = {"prompt": "x", **({"soeid": soeid} if soeid else {})}
    response = post(client, COMPLETION, body, {"HTTP_X_API_TOKEN": "1"})
    assert response.status_code == 200
    assert event_fields(response)["soeid"] == recorded
    assert event_fields(response)["project_name"] == "default_project"


def test_body_project_name_is_recorded(client, fake, auth):
    response = post(client, COMPLETION, {"prompt": "x", "project_name": "apollo"}, auth)
    assert event_fields(response)["project_name"] == "apollo"


# --- Upstream failures ----------------------------------------------------------------------


def solo(client, auth, **body):
    return post(client, COMPLETION, {"prompt": "x", "model": "solo", **body}, auth)


def test_transient_failure_is_retried(client, fake, auth):
    fake.script("up-solo", "500")
    response = solo(client, auth)
    assert response.status_code == 200
    assert len(fake.requests_for("up-solo")) == 2
    assert event_fields(response)["extra"]["attempts"] == 2


def test_upstream_4xx_caused_by_the_request_is_400_with_its_message(client, fake, auth):
    fake.script("up-solo", "400")
    response = solo(client, auth)
    assert response.status_code == 400
    assert response.json()["code"] == "upstream_rejected_request"
    assert "too hot for this model" in response.json()["detail"]
    assert len(fake.requests_for("up-solo")) == 1  # not retried


def test_upstream_refusing_our_credentials_is_502_without_leaking_them(client, fake, auth, llm):
    routes = {"solo": {"base_url": fake.openai_url, "model": "up-solo", "api_key": "sk-leaky-123"}}
    llm(routes, DEFAULT_MODEL="solo")
    response = solo(client, auth)
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_auth_failed"
    assert "sk-leaky-123" not in response.content.decode()
    assert "sk-leaky-123" not in str(event_fields(response))


def test_token_endpoint_refusing_the_gateway_is_502_without_leaking_the_secret(
    client, fake, auth, llm, caplog
):
    routes = standard_routes(fake)
    routes["gated"]["oauth"]["client_secret"] = "wrong-secret-456"
    routes["gated"]["fallbacks"] = ["solo"]
    fake.always("up-solo", "401")  # the fallback's key is refused too, and its key echoed
    llm(routes)
    response = post(client, COMPLETION, {"prompt": "x", "model": "gated"}, auth)
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_auth_failed"
    everything = response.content.decode() + str(event_fields(response)) + caplog.text
    assert "falling back to solo" in caplog.text
    for secret in ("wrong-secret-456", "client-secret", "sk-test"):
        assert secret not in everything


def test_rate_limit_after_retries_is_429_with_retry_after(client, fake, auth):
    fake.script("up-solo", "429", "429")
    response = solo(client, auth)
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert response.json()["code"] == "upstream_rate_limited"
    assert len(fake.requests_for("up-solo")) == 2


def test_retry_after_beyond_the_cap_is_passed_to_the_caller_without_waiting(client, fake, auth):
    fake.script("up-solo", "429:30")
    response = solo(client, auth)
    assert response.status_code == 429
    assert response["Retry-After"] == "30"
    assert len(fake.requests_for("up-solo")) == 1


def test_retry_after_within_the_cap_is_honoured(client, fake, auth):
    fake.script("up-solo", "429:0.1")
    response = solo(client, auth)
    assert response.status_code == 200
    assert len(fake.requests_for("up-solo")) == 2
    assert event_fields(response)["upstream_latency_ms"] >= 100


def test_server_errors_after_retries_are_502(client, fake, auth):
    fake.always("up-solo", "500")
    response = solo(client, auth)
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_unavailable"
    assert len(fake.requests_for("up-solo")) == 2
    assert event_fields(response)["error"].startswith("upstream_unavailable")


def test_timeout_is_504(client, fake, auth, llm):
    llm(TIMEOUT=0.2, RETRIES=0)
    fake.script("up-solo", "hang:1")
    response = solo(client, auth)
    assert response.status_code == 504
    assert response.json()["code"] == "upstream_timeout"


@pytest.mark.parametrize(
    ("mode", "code"), [("malformed", "upstream_bad_response"), ("404", "upstream_misconfigured")]
)
def test_unusable_upstream_answers_are_502(client, fake, auth, mode, code):
    fake.script("up-solo", mode)
    response = solo(client, auth)
    assert response.status_code == 502
    assert response.json()["code"] == code


def test_unreachable_upstream_is_502(client, fake, auth, llm):
    llm({"solo": {"base_url": "http://127.0.0.1:9", "model": "m"}}, DEFAULT_MODEL="solo", RETRIES=0)
    response = solo(client, auth)
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_unavailable"


# --- Fallbacks ------------------------------------------------------------------------------


def test_failing_route_falls_back_after_its_retries(client, fake, auth):
    fake.always("up-main", "503")
    response = post(client, COMPLETION, {"prompt": "Hi"}, auth)
    assert response.status_code == 200
    assert response.json()["model"] == "gemini"
    assert len(fake.requests_for("up-main")) == 2
    backup = fake.requests_for("up-backup")[0]
    fields = event_fields(response)
    assert (fields["target_service"], fields["provider"], fields["upstream_model"]) == (
        "backup",
        "gemini",
        "up-backup",
    )
    assert fields["extra"] == {"stream": False, "attempts": 3, "fallback_from": "gemini"}
    assert fields["prompt_tokens"] == backup.usage["prompt_tokens"]
    assert response.json()["metadata"]["tokens"]["completion"] == backup.usage["completion_tokens"]


def test_bad_request_is_not_sent_to_the_fallback(client, fake, auth):
    fake.script("up-main", "400")
    assert post(client, COMPLETION, {"prompt": "Hi"}, auth).status_code == 400
    assert fake.requests_for("up-backup") == []


def test_when_every_route_fails_the_last_error_answers(client, fake, auth):
    fake.always("up-main", "500")
    fake.always("up-backup", "500")
    response = post(client, COMPLETION, {"prompt": "Hi"}, auth)
    assert response.status_code == 502
    assert len(fake.requests_for("up-backup")) == 2


# --- Chat, streaming, local provider --------------------------------------------------------


def test_chat_sends_the_conversation_and_answers_with_a_message(client, fake, auth):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    response = post(client, CHAT, {"messages": messages, "model": "google"}, auth)
    assert response.status_code == 200
    body = response.json()
    assert body["message"]["role"] == "assistant"
    assert body["message"]["content"] == "Fake answer to: Be brief. Hi"
    assert (
        fake.requests_for("up-google")[0].body["systemInstruction"]["parts"][0]["text"]
        == "Be brief."
    )
    assert event_fields(response)["event_type"] == "llm_chat"


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "wizard", "content": "x"}],
        [{"role": "user"}],
        "hello",
        [{"role": "user", "content": 5}],
    ],
)
def test_chat_with_bad_messages_is_400(client, fake, auth, messages):
    response = post(client, CHAT, {"messages": messages}, auth)
    assert response.status_code == 400
    assert "messages" in response.json()["fields"]


def test_streamed_completion_sends_deltas_then_the_usual_body(client, fake, auth):
    response = post(client, COMPLETION, {"prompt": "Hi there", "stream": True}, auth)
    assert response["Content-Type"] == "text/event-stream"
    received = events(response)
    assert received[-1] == "[DONE]"
    final = received[-2]
    text = "".join(event["delta"] for event in received[:-2])
    assert final["completion"] == text == "Fake answer to: Hi there"
    seen = fake.requests_for("up-main")[0]
    usage = seen.usage
    assert final["metadata"]["tokens"]["total"] == seen.total_tokens
    assert final["metadata"]["request_id"] == response["X-Request-ID"]
    fields = event_fields(response)
    assert fields["completion_tokens"] == usage["completion_tokens"]
    assert fields["extra"]["stream"] is True


def test_local_provider_says_it_is_not_a_real_model(client, fake, auth, llm):
    llm({"gemini": {"provider": "local"}})
    response = post(client, COMPLETION, {"prompt": "Hello"}, auth)
    assert response.status_code == 200
    assert "not a real model" in response.json()["completion"]
    assert response.json()["metadata"]["tokens"]["estimated"] is True
    fields = event_fields(response)
    assert (fields["provider"], fields["tokens_estimated"]) == ("local", True)
    assert fake.seen == []


def test_local_provider_streams_too(client, llm, auth):
    llm({"gemini": {"provider": "local"}})
    received = events(post(client, COMPLETION, {"prompt": "Hello", "stream": True}, auth))
    assert "not a real model" in received[-2]["completion"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (COMPLETION, "max_tokens"),
        ("/v1/chat/completions", "max_tokens"),
        ("/v1/chat/completions", "max_completion_tokens"),
    ],
)
def test_output_tokens_above_the_models_limit_are_refused_naming_the_field(
    client, fake, auth, llm, path, field
):
    routes = standard_routes(fake)
    routes["solo"]["max_output_tokens"] = 4096
    llm(routes)
    body = (
        {"prompt": "Hi"}
        if path == COMPLETION
        else {"messages": [{"role": "user", "content": "Hi"}]}
    )
    response = post(client, path, {**body, "model": "solo", field: 4097}, auth)
    assert response.status_code == 400
    limit = "Ensure this value is less than or equal to 4096 (the limit of model 'solo')."
    if path == COMPLETION:
        assert response.json()["fields"] == {field: [limit]}
    else:
        assert response.json()["error"]["param"] == field
        assert response.json()["error"]["message"] == f"{field}: {limit}"
    assert post(client, path, {**body, "model": "solo", field: 4096}, auth).status_code == 200
    assert len(fake.seen) == 1


def test_the_default_max_tokens_is_kept_within_the_models_limit(client, fake, auth, llm):
    routes = standard_routes(fake)
    routes["solo"]["max_output_tokens"] = 4096  # below DEFAULT_MAX_TOKENS (10000)
    llm(routes)
    post(client, COMPLETION, {"prompt": "Hi", "model": "solo"}, auth)
    post(client, COMPLETION, {"prompt": "Hi", "model": "gemini"}, auth)
    assert fake.requests_for("up-solo")[0].body["max_tokens"] == 4096
    assert fake.requests_for("up-main")[0].body["max_tokens"] == 10000


def test_a_fallbacks_lower_limit_applies_to_the_model_it_serves(client, fake, auth, llm):
    routes = standard_routes(fake)
    routes["backup"]["max_output_tokens"] = 2000  # gemini falls back to backup
    llm(routes)
    response = post(client, COMPLETION, {"prompt": "Hi", "max_tokens": 3000}, auth)
    assert response.status_code == 400
    assert "2000 (the limit of model 'gemini')" in response.json()["fields"]["max_tokens"][0]
