"""A mix of requests, as production sees them, through the whole pipeline: exactly one
stored telemetry event per request, whose token fields equal the usage the fake upstream
reported (or are marked estimated where it reported none or the stream was cut)."""

import json

import pytest

from tests.llmproxy.helpers import events, post

pytestmark = pytest.mark.django_db

HI = [{"role": "user", "content": "Hi there"}]


def plain_completion(client, auth, fake):
    return post(client, "/api/llm/completion", {"prompt": "Hello"}, auth)


def plain_chat(client, auth, fake):
    return post(client, "/api/llm/chat", {"messages": HI, "model": "google"}, auth)


def openai_plain(client, auth, fake):
    return post(client, "/v1/chat/completions", {"model": "solo", "messages": HI}, auth)


def streamed_completion(client, auth, fake):
    return consumed(post(client, "/api/llm/completion", {"prompt": "Hi", "stream": True}, auth))


def openai_stream(model, mode="ok"):
    def send(client, auth, fake):
        fake.script(f"up-{model}", mode)
        body = {"model": model, "messages": HI, "stream": True}
        body["stream_options"] = {"include_usage": True}
        return consumed(post(client, "/v1/chat/completions", body, auth))

    return send


def upstream_failure(client, auth, fake):
    fake.script("up-solo", "500", "500")
    return post(client, "/v1/chat/completions", {"model": "solo", "messages": HI}, auth)


def rejected_by_upstream(client, auth, fake):
    fake.script("up-solo", "400")
    return post(client, "/api/llm/completion", {"prompt": "x", "model": "solo"}, auth)


def fallback_served(client, auth, fake):
    fake.script("up-main", "503", "503")
    return post(client, "/api/llm/completion", {"prompt": "Hello"}, auth)


def client_disconnects(client, auth, fake):
    fake.script("up-solo", "drip:0.02")
    body = {"model": "solo", "messages": HI, "stream": True}
    response = post(client, "/v1/chat/completions", body, auth)
    chunks = iter(response.streaming_content)
    response.pieces = [json.loads(next(chunks)[6:]) for _ in range(3)]
    response.close()
    return response


def consumed(response):
    response.events = events(response)
    return response


MIX = [
    plain_completion,
    plain_chat,
    openai_plain,
    streamed_completion,
    openai_stream("google"),
    openai_stream("solo", "no_usage"),
    openai_stream("solo", "usage_in_choice"),
    upstream_failure,
    rejected_by_upstream,
    fallback_served,
    client_disconnects,
]
FAILING = {upstream_failure, rejected_by_upstream}


def test_every_request_is_stored_as_one_event_with_the_upstreams_usage(
    client, auth, fake, recorded
):
    outcomes = []
    for send in MIX:
        before = len(fake.seen)
        response = send(client, auth, fake)
        upstream = fake.seen[before:]
        for seen in upstream:
            assert seen.done.wait(5)
        outcomes.append((send, response, upstream))

    stored_events = recorded.events()
    stored = {event["request_id"]: event for event in stored_events}
    assert len(stored_events) == len(stored) == len(MIX)
    for send, response, upstream in outcomes:
        fields = stored[response["X-Request-ID"]]
        assert fields["event_type"] in {"llm_completion", "llm_chat", "openai_chat_completion"}
        assert fields["soeid"] == "alice", send.__name__
        assert all(fields[name] for name in ("model", "provider", "target_service")), fields
        if send in FAILING:
            assert response.status_code in {400, 502}, send.__name__
            assert fields["status_code"] == response.status_code, send.__name__
            assert fields["error"], send.__name__
            assert fields["prompt_tokens"] is None, send.__name__
            continue
        assert response.status_code == 200, send.__name__
        # A client that went away is recorded as nginx counts it (telemetry.middleware).
        assert fields["status_code"] == (499 if send is client_disconnects else 200), send.__name__
        served = upstream[-1]
        if served.usage is None or served.aborted:
            assert fields["tokens_estimated"] is True, send.__name__
        else:
            assert fields["tokens_estimated"] is False, send.__name__
            assert fields["prompt_tokens"] == served.usage["prompt_tokens"], send.__name__
            assert fields["completion_tokens"] == served.usage["completion_tokens"], send.__name__
        assert fields["total_tokens"] == fields["prompt_tokens"] + fields["completion_tokens"]

    by_name = {send.__name__: stored[response["X-Request-ID"]] for send, response, _ in outcomes}
    assert by_name["fallback_served"]["extra"]["fallback_from"] == "gemini"
    assert by_name["client_disconnects"]["extra"]["client_disconnected"] is True
    assert fake.requests_for("up-solo")[-1].aborted
