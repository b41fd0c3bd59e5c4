"""Each provider against the fake upstream: wire format, usage, and failures as types."""

import pytest

from llmproxy.errors import (
    UpstreamAuthFailed,
    UpstreamBadResponse,
    UpstreamMisconfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from llmproxy.providers.datatypes import ChatRequest
from llmproxy.providers.transport import parse_retry_after
from tests.llmproxy.helpers import (
    HELLO,
    chunk_text,
    chunk_usages,
    finish_reasons,
    provider,
    reported,
)

CONVERSATION = ChatRequest(
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "How are you?"},
        ],
        "temperature": 0.7,
        "max_tokens": 123,
    }
)


def test_openai_request_carries_model_key_headers_and_sampling(fake, llm):
    routes = {"solo": {"base_url": fake.openai_url, "model": "up-solo", "api_key": "sk-test"}}
    routes["solo"]["headers"] = {"X-Team": "research"}
    llm(routes, DEFAULT_MODEL="solo")
    reply = provider("solo").complete(CONVERSATION)
    seen = fake.requests_for("up-solo")[0]
    assert seen.path == "/v1/chat/completions"
    assert seen.bearer == "sk-test"
    assert seen.headers["x-team"] == "research"
    assert seen.body["messages"] == CONVERSATION.messages
    assert (seen.body["temperature"], seen.body["max_tokens"]) == (0.7, 123)
    assert reply.text.startswith("Fake answer to: Be brief.")
    assert reply.usage == reported(seen)
    assert reply.body["system_fingerprint"] == "fp_fake"  # the upstream's body, whole


def test_openai_base_url_may_be_the_full_endpoint(fake, llm):
    url = fake.openai_url + "/chat/completions"
    llm({"solo": {"base_url": url, "model": "up-solo", "api_key": "sk-test"}}, DEFAULT_MODEL="solo")
    assert provider("solo").complete(HELLO).text
    assert fake.requests_for("up-solo")[0].path == "/v1/chat/completions"


def test_gemini_maps_roles_system_instruction_and_generation_config(fake):
    reply = provider("google").complete(CONVERSATION)
    seen = fake.requests_for("up-google")[0]
    assert seen.path == "/v1beta/models/up-google:generateContent"
    assert seen.headers["x-goog-api-key"] == "sk-test"
    assert "authorization" not in seen.headers
    assert seen.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in seen.body["contents"]] == ["user", "model", "user"]
    assert seen.body["contents"][1]["parts"] == [{"text": "Hello!"}]
    assert seen.body["generationConfig"] == {"temperature": 0.7, "maxOutputTokens": 123}
    assert reply.usage == reported(seen)
    assert reply.finish_reason == "stop"


def test_gemini_stream_uses_sse_and_keeps_the_last_cumulative_usage(fake):
    stream = provider("google").stream(HELLO)
    chunks = list(stream)
    stream.close()
    seen = fake.requests_for("up-google")[0]
    assert seen.path == "/v1beta/models/up-google:streamGenerateContent?alt=sse"
    assert chunk_text(chunks).startswith("Fake answer to: Hello there")
    # Gemini repeats its usage so far on every event: only the last, once, at the end.
    assert chunk_usages(chunks) == [reported(seen)]
    assert chunks[-1]["choices"] == []
    assert finish_reasons(chunks) == ["stop"]


def test_openai_stream_asks_for_usage_and_reads_the_usage_chunk(fake):
    chunks = list(provider("solo").stream(HELLO))
    seen = fake.requests_for("up-solo")[0]
    assert seen.body["stream"] is True
    assert seen.body["stream_options"] == {"include_usage": True}
    assert chunk_usages(chunks) == [reported(seen)]


def test_openai_stream_reads_usage_from_a_chunk_that_still_has_choices(fake):
    fake.script("up-solo", "usage_in_choice")
    last = list(provider("solo").stream(HELLO))[-1]
    assert finish_reasons([last]) == ["stop"]
    assert chunk_usages([last]) == [reported(fake.requests_for("up-solo")[0])]


@pytest.mark.parametrize("route", ["solo", "google"])
def test_answer_without_usage_has_none(fake, route):
    fake.script(f"up-{route}", "no_usage")
    assert provider(route).complete(HELLO).usage is None


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("400", UpstreamRejected),
        ("401", UpstreamAuthFailed),
        ("404", UpstreamMisconfigured),
        ("429", UpstreamRateLimited),
        ("500", UpstreamUnavailable),
        ("503", UpstreamUnavailable),
        ("malformed", UpstreamBadResponse),
    ],
)
@pytest.mark.parametrize("route", ["solo", "google"])
def test_upstream_failures_become_typed_errors(fake, route, mode, error):
    fake.script(f"up-{route}", mode)
    with pytest.raises(error):
        provider(route).complete(HELLO)


def test_rejection_passes_the_upstream_message_on(fake):
    fake.script("up-solo", "400")
    with pytest.raises(UpstreamRejected) as caught:
        provider("solo").complete(HELLO)
    assert "too hot for this model" in caught.value.message
    assert caught.value.status == 400


@pytest.mark.parametrize("route", ["solo", "google"])
def test_credentials_quoted_in_an_upstream_message_are_redacted(fake, route):
    fake.script(f"up-{route}", "400:echo")
    with pytest.raises(UpstreamRejected) as caught:
        provider(route).complete(HELLO)
    assert "too hot" in caught.value.message
    assert "sk-test" not in caught.value.message
    assert "[redacted]" in caught.value.message


def test_wrong_key_is_an_auth_failure_that_does_not_repeat_the_key(fake, llm):
    routes = {"solo": {"base_url": fake.openai_url, "model": "up-solo", "api_key": "sk-wrong-key"}}
    llm(routes, DEFAULT_MODEL="solo")
    with pytest.raises(UpstreamAuthFailed) as caught:
        provider("solo").complete(HELLO)
    assert "sk-wrong-key" not in str(caught.value)
    assert "Incorrect API key" not in str(caught.value)


def test_rate_limit_carries_retry_after(fake):
    fake.script("up-solo", "429:7")
    with pytest.raises(UpstreamRateLimited) as caught:
        provider("solo").complete(HELLO)
    assert caught.value.retry_after == 7


def test_upstream_slower_than_the_timeout_is_a_timeout(fake, llm):
    routes = {"solo": {"base_url": fake.openai_url, "model": "up-solo", "api_key": "sk-test"}}
    llm(routes, DEFAULT_MODEL="solo", TIMEOUT=0.2)
    fake.script("up-solo", "hang:1")
    with pytest.raises(UpstreamTimeout):
        provider("solo").complete(HELLO)


def test_nothing_listening_is_unavailable(llm):
    routes = {"solo": {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "k"}}
    llm(routes, DEFAULT_MODEL="solo")
    with pytest.raises(UpstreamUnavailable):
        provider("solo").complete(HELLO)


@pytest.mark.parametrize(
    ("mode", "error"),
    [("cut", UpstreamUnavailable), ("error_event", UpstreamUnavailable)],
)
@pytest.mark.parametrize("route", ["solo", "google"])
def test_stream_broken_mid_way_raises_after_the_pieces_that_arrived(fake, route, mode, error):
    fake.script(f"up-{route}", mode)
    stream = provider(route).stream(HELLO)
    chunks = []
    with pytest.raises(error):
        for chunk in stream:
            chunks.append(chunk)
    stream.close()
    assert chunk_text(chunks).startswith("Fake")


def test_stream_that_stalls_past_the_timeout_is_a_timeout(fake, llm):
    llm(TIMEOUT=0.2)
    fake.script("up-solo", "drip:1")
    stream = provider("solo").stream(HELLO)
    with pytest.raises(UpstreamTimeout):
        list(stream)
    stream.close()


def test_stream_failing_before_it_starts_raises_on_open(fake):
    fake.script("up-solo", "500")
    with pytest.raises(UpstreamUnavailable):
        provider("solo").stream(HELLO)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0", 0.0), ("soon", None), (None, None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_header_parsing(header, seconds):
    assert parse_retry_after(header) == seconds
