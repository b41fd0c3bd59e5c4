"""What every upstream call puts on the wire (llmproxy.providers.transport, llmproxy.http),
seen by the fake upstream: one kept-alive connection for calls one after another, the same
headers on every call, each route's own timeouts, and the outbound proxy when one is set."""

import json

import pytest
from django.conf import settings

from llmproxy.errors import UpstreamTimeout
from tests.llmproxy.helpers import HELLO, provider

SOLO = {"model": "up-solo", "api_key": "sk-test"}


def solo_route(fake, **entry) -> dict:
    return {"solo": {"base_url": fake.openai_url, **SOLO, **entry}}


def test_calls_one_after_another_share_one_kept_alive_connection(fake):
    solo = provider("solo")
    for _ in range(3):
        solo.complete(HELLO)
    peers = {seen.peer for seen in fake.requests_for("up-solo")}
    assert len(fake.requests_for("up-solo")) == 3 and len(peers) == 1


def test_every_call_sends_the_same_headers(fake, llm):
    llm(solo_route(fake, headers={"X-Team": "research"}), DEFAULT_MODEL="solo")
    solo = provider("solo")
    for _ in range(2):
        solo.complete(HELLO)
    first, second = fake.requests_for("up-solo")
    assert first.headers == second.headers
    sent = dict(first.headers)
    length = int(sent.pop("content-length"))
    assert length == len(json.dumps(first.body, separators=(", ", ": ")).encode())
    sent.pop("host")
    assert sent == {
        "user-agent": f"dgen-ping/{settings.VERSION}",
        "accept-encoding": "gzip, deflate",
        "accept": "*/*",
        "connection": "keep-alive",
        "content-type": "application/json",
        "x-team": "research",
        "authorization": "Bearer sk-test",
    }


def test_a_route_header_replaces_ours_of_the_same_name_whatever_its_case(fake, llm):
    route_headers = {"content-type": "application/json; charset=utf-8", "AUTHORIZATION": "x"}
    llm(solo_route(fake, headers=route_headers), DEFAULT_MODEL="solo")
    provider("solo").complete(HELLO)
    [seen] = fake.requests_for("up-solo")
    names = [name.lower() for name in seen.header_names]
    assert names.count("content-type") == 1 and names.count("authorization") == 1
    assert seen.headers["content-type"] == "application/json; charset=utf-8"
    assert seen.bearer == "sk-test"  # the route's credential is what authenticates


def test_each_route_keeps_its_own_timeout(fake, llm):
    routes = {
        "solo": {"base_url": fake.openai_url, **SOLO, "timeout": 0.2},
        "patient": {"base_url": fake.openai_url, **SOLO, "model": "up-patient", "timeout": 5},
    }
    llm(routes, DEFAULT_MODEL="solo")
    fake.delay = 0.5
    with pytest.raises(UpstreamTimeout):
        provider("solo").complete(HELLO)
    assert provider("patient").complete(HELLO).text


def test_calls_go_through_the_configured_proxy(fake, llm):
    """LLM_PROXY set: the upstream URL (here nothing listens there) is asked of the proxy
    (here the fake itself, which answers the absolute-form request it receives)."""
    unreachable = "http://127.0.0.1:9/v1"
    llm({"solo": {"base_url": unreachable, **SOLO}}, DEFAULT_MODEL="solo", PROXY=fake.url)
    assert provider("solo").complete(HELLO).text
    assert fake.requests_for("up-solo")[0].path == f"{unreachable}/chat/completions"
