"""Streamed answers: usage however the upstream reports it, failures mid-stream, and a client
that goes away (WSGI close()) before the end."""

import json

import pytest

from llmproxy.services import estimate_tokens, estimate_usage
from tests.llmproxy.helpers import event_fields, events, post

pytestmark = pytest.mark.django_db

CHAT = "/v1/chat/completions"


def stream_body(model: str = "solo", **extra) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": "Tell me"}], "stream": True}
    return {**body, "stream_options": {"include_usage": True}, **extra}


def test_usage_from_the_usage_chunk_is_recorded(client, fake, auth):
    response = post(client, CHAT, stream_body(), auth)
    received = events(response)
    usage = fake.requests_for("up-solo")[0].usage
    assert received[-2]["usage"]["prompt_tokens"] == usage["prompt_tokens"]
    fields = event_fields(response)
    assert (fields["prompt_tokens"], fields["completion_tokens"], fields["tokens_estimated"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
        False,
    )


def test_usage_in_a_chunk_that_still_carries_choices_is_recorded(client, fake, auth):
    fake.script("up-solo", "usage_in_choice")
    response = post(client, CHAT, stream_body(), auth)
    events(response)
    usage = fake.requests_for("up-solo")[0].usage
    fields = event_fields(response)
    assert fields["completion_tokens"] == usage["completion_tokens"]
    assert fields["tokens_estimated"] is False


def test_stream_without_usage_is_estimated_and_marked(client, fake, auth):
    fake.script("up-solo", "no_usage")
    response = post(client, CHAT, stream_body(), auth)
    received = events(response)
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in received[:-2])
    expected = estimate_usage([{"role": "user", "content": "Tell me"}], len(text))
    assert received[-2]["usage"]["completion_tokens"] == expected.completion_tokens
    fields = event_fields(response)
    assert (fields["prompt_tokens"], fields["completion_tokens"], fields["tokens_estimated"]) == (
        expected.prompt_tokens,
        expected.completion_tokens,
        True,
    )


def test_client_disconnect_closes_the_upstream_and_records_what_was_streamed(client, fake, auth):
    fake.script("up-solo", "drip:0.02")
    response = post(client, CHAT, stream_body(), auth)
    chunks = iter(response.streaming_content)
    received = [json.loads(next(chunks)[6:]) for _ in range(4)]  # role chunk + three pieces
    response.close()  # what a WSGI server does when the client goes away

    upstream = fake.requests_for("up-solo")[0]
    assert upstream.done.wait(5), "the fake upstream is still streaming"
    assert upstream.aborted
    text = "".join(e["choices"][0]["delta"]["content"] for e in received)
    fields = event_fields(response)
    assert fields["completion_tokens"] == estimate_tokens(len(text))
    assert fields["tokens_estimated"] is True
    assert fields["extra"]["client_disconnected"] is True
    assert fields["error"] is None


@pytest.mark.parametrize("model", ["solo", "google"])
def test_upstream_breaking_mid_stream_ends_with_an_error_event(client, fake, auth, model):
    fake.script(f"up-{model}", "cut")
    response = post(client, CHAT, stream_body(model), auth)
    assert response.status_code == 200  # already sent when the upstream broke
    received = events(response)
    assert received[-1]["error"]["code"] == "upstream_unavailable"
    assert "[DONE]" not in received
    fields = event_fields(response)
    assert fields["error"].startswith("upstream_unavailable")
    assert fields["tokens_estimated"] is True
    assert "client_disconnected" not in fields["extra"]


def test_llm_stream_reports_mid_stream_errors_in_its_own_shape(client, fake, auth):
    fake.script("up-solo", "error_event")
    body = {"prompt": "x", "model": "solo", "stream": True}
    received = events(post(client, "/api/llm/completion", body, auth))
    assert received[-1] == {
        "error": {"detail": "The upstream failed mid-stream.", "code": "upstream_unavailable"}
    }


def test_stream_that_cannot_start_is_an_ordinary_http_error(client, fake, auth, llm):
    llm(RETRIES=0)
    fake.script("up-solo", "503")
    response = post(client, CHAT, stream_body(), auth)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unavailable"


def test_stream_falls_back_before_it_starts(client, fake, auth):
    fake.always("up-main", "500")
    response = post(client, CHAT, stream_body("gemini"), auth)
    received = events(response)
    assert received[-1] == "[DONE]"
    backup = fake.requests_for("up-backup")[0]
    assert received[-2]["usage"]["total_tokens"] == backup.total_tokens
    assert event_fields(response)["extra"]["fallback_from"] == "gemini"


def test_stream_stalling_past_the_timeout_ends_with_a_timeout_event(client, fake, auth, llm):
    llm(TIMEOUT=0.2)
    fake.script("up-solo", "drip:1")
    received = events(post(client, CHAT, stream_body(), auth))
    assert received[-1]["error"]["code"] == "upstream_timeout"


def test_streams_one_after_another_share_one_kept_alive_upstream_connection(client, fake, auth):
    """The end of each stream's body is read after [DONE], so its connection is reused: no
    TCP (and, to a real upstream, TLS) handshake per streamed call."""
    for _ in range(3):
        assert events(post(client, CHAT, stream_body(), auth))[-1] == "[DONE]"
    peers = {seen.peer for seen in fake.requests_for("up-solo")}
    assert len(fake.requests_for("up-solo")) == 3 and len(peers) == 1


def test_an_upstream_holding_its_body_open_after_done_delays_nothing(client, fake, auth):
    fake.script("up-solo", "linger:5")
    received = events(post(client, CHAT, stream_body(), auth))
    assert received[-1] == "[DONE]" and received[-2]["usage"]["total_tokens"]
    [lingering] = fake.requests_for("up-solo")
    # The whole answer reached the client while the upstream still held its body open;
    # that connection is not reused (its rest is unread): the next call opens another.
    assert not lingering.done.is_set()
    assert events(post(client, CHAT, stream_body(), auth))[-1] == "[DONE]"
    first, second = fake.requests_for("up-solo")
    assert first.peer != second.peer
