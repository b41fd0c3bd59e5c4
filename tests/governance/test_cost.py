"""Cost = the route's price × the upstream's usage, over HTTP, however the answer arrives:
plain, streamed with and without include_usage, cut short by the client, with cached
prompt tokens or reasoning tokens; on the OpenAI and Gemini wires; for chat and embeddings;
shown to the caller, stored on the event and charged to the budget."""

import json
from decimal import Decimal

import pytest

from accounts.tokens import decode_token
from llmproxy.pricing import usd
from tests.governance.helpers import HI, chat, spent
from tests.llmproxy.helpers import event_fields, events, post

pytestmark = pytest.mark.django_db
V1 = "/v1/chat/completions"
UPSTREAM = {"priced": "up-priced", "gpriced": "up-gpriced"}
# (prompt, completion, cached, reasoning) the fake reports.
USAGES = {
    "plain": (1000, 200, 0, 0),
    "cached": (1000, 200, 400, 0),
    "reasoning": (1000, 200, 0, 150),
}
# By hand, at 2.50 / 10.00 / 1.25 USD per million: (1000 × 2.5 + 200 × 10) / 10⁶; with 400
# of the prompt tokens cached (600 × 2.5 + 400 × 1.25 + 200 × 10) / 10⁶; with 150 of the
# completion tokens spent reasoning, the same as plain: they are part of the 200.
COSTS = {"plain": Decimal("0.0045"), "cached": Decimal("0.004"), "reasoning": Decimal("0.0045")}


def scripted(usage: str) -> str:
    return "usage:" + ":".join(map(str, USAGES[usage]))


def expected(prompt: int, completion: int) -> Decimal:
    """PRICE's cost of uncached usage, computed here rather than by the code under test."""
    return (prompt * Decimal("2.50") + completion * Decimal("10.00")) / 10**6


@pytest.mark.parametrize("usage", USAGES)
@pytest.mark.parametrize("model", UPSTREAM)
def test_an_answer_costs_price_times_the_upstreams_usage(client, auth, fake, budget, model, usage):
    daily = budget(tokens=10**6)
    fake.always(UPSTREAM[model], scripted(usage))
    response = post(client, V1, chat(model), auth)
    cost = COSTS[usage]
    assert response["X-Request-Cost"] == usd(cost)
    assert response.json()["usage"]["cost"] == float(cost)
    fields = event_fields(response)
    assert fields["cost"] == float(cost)
    assert (fields["cached_tokens"], fields["reasoning_tokens"]) == USAGES[usage][2:]
    assert spent(daily) == (1200, cost)


def test_api_llm_reports_the_cost_too(client, auth, fake):
    fake.always("up-priced", "usage:1000:200")
    response = post(client, "/api/llm/completion", {"prompt": "Hi", "model": "priced"}, auth)
    assert response["X-Request-Cost"] == "0.0045"
    assert response.json()["metadata"]["cost"] == 0.0045


@pytest.mark.parametrize("usage", USAGES)
@pytest.mark.parametrize("model", UPSTREAM)
def test_a_stream_with_include_usage_ends_with_its_cost(client, auth, fake, budget, model, usage):
    daily = budget(tokens=10**6)
    fake.always(UPSTREAM[model], scripted(usage))
    body = chat(model, stream=True, stream_options={"include_usage": True})
    response = post(client, V1, body, auth)
    assert "X-Request-Cost" not in response  # headers leave before the cost is known
    received = events(response)
    cost = COSTS[usage]
    assert received[-2]["usage"]["cost"] == float(cost)
    assert received[-2]["usage"]["total_tokens"] == 1200
    assert event_fields(response)["cost"] == float(cost)
    assert spent(daily) == (1200, cost)


def test_a_stream_without_include_usage_is_charged_all_the_same(client, auth, fake, budget):
    daily = budget(tokens=10**6)
    fake.always("up-priced", "usage:1000:200")
    response = post(client, V1, chat(stream=True), auth)
    received = events(response)
    assert not any("usage" in event for event in received if isinstance(event, dict))
    assert event_fields(response)["cost"] == 0.0045
    assert spent(daily) == (1200, expected(1000, 200))


def test_an_api_llm_stream_ends_with_its_cost(client, auth, fake):
    fake.always("up-priced", "usage:1000:200")
    body = {"prompt": "Hi", "model": "priced", "stream": True}
    received = events(post(client, "/api/llm/completion", body, auth))
    assert received[-2]["metadata"]["cost"] == 0.0045


def test_a_stream_the_client_leaves_is_charged_for_what_was_recorded(client, auth, fake, budget):
    daily = budget(tokens=10**6)
    fake.always("up-priced", "drip:0.02")
    response = post(client, V1, chat(stream=True), auth)
    chunks = iter(response.streaming_content)
    [json.loads(next(chunks)[6:]) for _ in range(3)]  # role chunk + two pieces
    response.close()  # what a WSGI server does when the client goes away
    assert fake.requests_for("up-priced")[0].done.wait(5)
    fields = event_fields(response)
    assert fields["extra"]["client_disconnected"] is True and fields["tokens_estimated"]
    prompt, completion = fields["prompt_tokens"], fields["completion_tokens"]
    assert fields["cost"] == float(expected(prompt, completion))
    # The reservation (body bytes + max_tokens) gave way to what the event records.
    assert spent(daily) == (prompt + completion, expected(prompt, completion))


def test_a_failed_call_costs_nothing_and_releases_its_reservation(client, auth, fake, budget):
    daily = budget(tokens=10**6)
    fake.always("up-priced", "500")
    response = post(client, V1, chat(), auth)
    assert response.status_code == 502
    assert response["X-Request-Cost"] == "0"
    assert event_fields(response)["cost"] == 0.0
    assert spent(daily) == (0, 0)


def test_a_route_without_a_price_has_an_unknown_cost(client, auth, fake, budget):
    daily = budget(tokens=10**6)
    response = post(client, V1, chat("free"), auth)
    assert response["X-Request-Cost"] == "unknown"
    assert response.json()["usage"]["cost"] is None
    assert event_fields(response)["cost"] is None
    assert spent(daily)[0] == response.json()["usage"]["total_tokens"]


def test_a_fallback_is_priced_at_the_route_that_answered(client, auth, fake):
    fake.always("up-cheap", "503")
    fake.always("up-priced", "usage:1000:200")
    response = post(client, V1, chat("cheap"), auth)
    assert response["X-Request-Cost"] == "0.0045"


def test_the_stored_event_carries_cost_and_token_jti(client, auth, fake, recorded, token):
    fake.always("up-priced", "usage:1000:200")
    post(client, V1, {"model": "priced", "messages": HI}, auth)
    event = recorded.one()
    assert event["cost"] == 0.0045
    assert event["token_jti"] == decode_token(token)["jti"]


# The usage the fake sends for usage:1000:200:400:150, as OpenAI sends it, with the cost
# the gateway adds: (600 × 2.50 + 400 × 1.25 + 200 × 10) / 10⁶.
DETAILED_USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 200,
    "total_tokens": 1200,
    "prompt_tokens_details": {"cached_tokens": 400, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 150, "audio_tokens": 0},
    "cost": 0.004,
}


def test_cost_is_the_only_change_to_the_upstreams_usage(client, auth, fake):
    fake.always("up-priced", "usage:1000:200:400:150")
    assert post(client, V1, chat(), auth).json()["usage"] == DETAILED_USAGE


def test_a_streams_usage_chunk_is_the_upstreams_with_the_cost_added(client, auth, fake):
    fake.always("up-priced", "usage:1000:200:400:150")
    body = chat(stream=True, stream_options={"include_usage": True})
    *chunks, usage_chunk, done = events(post(client, V1, body, auth))
    assert done == "[DONE]" and all("usage" not in chunk for chunk in chunks)
    assert usage_chunk["choices"] == [] and usage_chunk["system_fingerprint"] == "fp_fake"
    assert usage_chunk["usage"] == DETAILED_USAGE


def test_usage_in_the_chunk_that_ends_the_answer_gets_the_cost(client, auth, fake):
    # Some upstreams put the usage in the chunk with the finish reason, not in one of its own.
    fake.script("up-priced", "usage_in_choice")
    body = chat(stream=True, stream_options={"include_usage": True})
    *_, last, done = events(post(client, V1, body, auth))
    assert last["choices"][0]["finish_reason"] == "stop"
    usage = last["usage"]
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    fresh = expected(usage["prompt_tokens"] - cached, usage["completion_tokens"])
    assert usage["cost"] == float(fresh + cached * Decimal("1.25") / 10**6)


VECTORS = {"model": "vectors", "input": ["one", "two"]}


def test_embeddings_cost_their_input_tokens(client, auth, fake, budget):
    daily = budget(tokens=10**6)
    fake.always("up-vectors", "usage:1000:0")
    response = post(client, "/v1/embeddings", VECTORS, auth)
    cost = Decimal("0.0025")  # 1000 × 2.50 / 10⁶, no output
    assert response["X-Request-Cost"] == usd(cost)
    assert response.json()["usage"] == {"prompt_tokens": 1000, "total_tokens": 1000, "cost": 0.0025}
    assert event_fields(response)["cost"] == float(cost)
    assert spent(daily) == (1000, cost)
