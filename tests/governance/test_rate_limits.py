"""Tokens per minute per SOEID beside requests per minute, and OpenAI's x-ratelimit-*
headers on every LLM answer."""

import json
from datetime import UTC, datetime

import pytest

from tests.governance.helpers import chat
from tests.llmproxy.helpers import events, post

pytestmark = pytest.mark.django_db
V1 = "/v1/chat/completions"
MID_MINUTE = datetime(2025, 3, 3, 10, 0, 45, tzinfo=UTC)


@pytest.fixture
def limits(settings, clock):
    clock(MID_MINUTE)
    settings.RATE_LIMIT = 5
    settings.TOKEN_RATE_LIMIT = 1000


def ratelimit_headers(response) -> dict:
    return {name: value for name, value in response.items() if name.startswith("x-ratelimit-")}


@pytest.mark.usefixtures("limits")
def test_every_answer_carries_openais_rate_limit_headers(client, auth, fake):
    fake.always("up-priced", "usage:10:20")
    response = post(client, V1, chat(max_tokens=100), auth)
    assert ratelimit_headers(response) == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "4",
        "x-ratelimit-reset-requests": "1m0s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "970",  # settled to the 30 tokens used
        "x-ratelimit-reset-tokens": "15s",  # to the end of the UTC minute
    }


@pytest.mark.usefixtures("limits")
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/llm/completion", {"prompt": "Hi", "max_tokens": 100}),
        ("/api/llm/chat", {"messages": chat()["messages"], "max_tokens": 100}),
        (V1, chat(max_tokens=100, stream=True)),
        (V1, chat("nope")),  # an error answer
        (V1, {**chat(max_tokens=100), "model": "priced"}),
        ("/v1/embeddings", {"model": "vectors", "input": "Hi"}),
        ("/v1/embeddings", {"model": "vectors", "input": 1}),  # an error answer
    ],
)
def test_on_each_endpoint_and_answer_kind(client, auth, fake, path, body):
    response = post(client, path, body, auth)
    assert set(ratelimit_headers(response)) == {
        f"x-ratelimit-{what}-{kind}"
        for what in ("limit", "remaining", "reset")
        for kind in ("requests", "tokens")
    }


@pytest.mark.usefixtures("limits")
def test_a_stream_shows_its_reservation_in_the_headers(client, auth, fake):
    body = chat(max_tokens=100, stream=True)
    response = post(client, V1, body, auth)
    remaining = int(response["x-ratelimit-remaining-tokens"])
    events(response)
    assert remaining == 1000 - len(json.dumps(body).encode()) - 100


@pytest.mark.usefixtures("limits")
def test_tokens_per_minute_refuse_a_call_whose_worst_case_does_not_fit(client, auth, fake):
    fake.always("up-priced", "usage:400:300")
    assert post(client, V1, chat(max_tokens=300), auth).status_code == 200  # 700 used
    refused = post(client, V1, chat(max_tokens=300), auth)  # 700 + body bytes + 300 > 1000
    assert refused.status_code == 429
    assert refused["Retry-After"] == "15"
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "throttled")
    assert "Token rate limit" in error["message"]
    assert refused["x-ratelimit-remaining-tokens"] == "300"
    assert len(fake.seen) == 1


def test_the_next_minute_has_its_whole_allowance(client, auth, fake, settings, clock):
    settings.TOKEN_RATE_LIMIT = 1000
    clock(MID_MINUTE)
    fake.always("up-priced", "usage:400:300")
    assert post(client, V1, chat(max_tokens=300), auth).status_code == 200
    assert post(client, V1, chat(max_tokens=300), auth).status_code == 429
    clock(MID_MINUTE.replace(minute=1, second=0))
    assert post(client, V1, chat(max_tokens=300), auth).status_code == 200


def test_limits_that_are_off_send_no_headers(client, auth, fake):
    response = post(client, V1, chat(), auth)
    assert response.status_code == 200
    assert ratelimit_headers(response) == {}
