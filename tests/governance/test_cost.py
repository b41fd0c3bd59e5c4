"""Cost = the route's price × the upstream's usage, over HTTP, however the answer arrives:
plain, streamed with and without include_usage, cut short by the client, with cached
prompt tokens; on the OpenAI and Gemini wires; shown to the caller, stored on the event and
charged to the budget."""

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
# (prompt, completion, cached) the fake reports.
USAGES = {"plain": (1000, 200, 0), "cached": (1000, 200, 400)}
# By hand, at 2.50 / 10.00 / 1.25 USD per million: (1000 × 2.5 + 200 × 10) / 10⁶, and with
# 400 of the prompt tokens cached (600 × 2.5 + 400 × 1.25 + 200 × 10) / 10⁶.
COSTS = {"plain": Decimal("0.0045"), "cached": Decimal("0.004")}


def expected(prompt: int, completion: int) -> Decimal:
    """PRICE's cost of uncached usage, computed here rather than by the code under test."""
    return (prompt * Decimal("2.50") + completion * Decimal("10.00")) / 10**6


@pytest.mark.parametrize("usage", USAGES)
@pytest.mark.parametrize("model", UPSTREAM)
def test_an_answer_costs_price_times_the_upstreams_usage(client, auth, fake, budget, model, usage):
    daily = budget(tokens=10**6)
    fake.always(UPSTREAM[model], "usage:{}:{}:{}".format(*USAGES[usage]))
    response = post(client, V1, chat(model), auth)
    cost = COSTS[usage]
    assert response["X-Request-Cost"] == usd(cost)
    assert response.json()["usage"]["cost"] == float(cost)
    assert event_fields(response)["cost"] == float(cost)
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
    fake.always(UPSTREAM[model], "usage:{}:{}:{}".format(*USAGES[usage]))
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
