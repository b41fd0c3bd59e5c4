"""OAuth2 client credentials against the fake token endpoint: caching, expiry, refresh on
401, and one refresh at a time however many threads need a token."""

import threading

import pytest
from django.conf import settings

from llmproxy import http
from llmproxy.errors import UpstreamAuthFailed, UpstreamUnavailable
from llmproxy.oauth import ClientCredentials, OAuthConfig
from tests.llmproxy.conftest import OAUTH
from tests.llmproxy.helpers import HELLO, provider

THREADS = 8


def credentials(fake, clock=None, **config) -> ClientCredentials:
    options = {"token_url": fake.token_url, **OAUTH, "scope": "llm.read", **config}
    extra = {"clock": clock} if clock else {}
    return ClientCredentials(OAuthConfig(**options), http.session(), **extra)


def all_at_once(count: int, work) -> list:
    """Run work() in `count` threads released together; their results."""
    barrier, results = threading.Barrier(count), [None] * count

    def run(index):
        barrier.wait()
        results[index] = work()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return results


def test_token_is_fetched_once_and_sent_as_bearer(fake):
    gated = provider("gated")
    gated.complete(HELLO)
    gated.complete(HELLO)
    assert len(fake.token_requests) == 1
    token_request = fake.token_requests[0]
    assert token_request.body["grant_type"] == "client_credentials"
    assert token_request.headers["authorization"].startswith("Basic ")
    assert [seen.bearer for seen in fake.requests_for("up-gated")] == ["tok-1", "tok-1"]


def test_client_credentials_can_go_in_the_form_body(fake):
    credentials(fake, client_auth="body").get()
    token_request = fake.token_requests[0]
    assert "authorization" not in token_request.headers
    assert token_request.body["client_id"] == "client-id"
    assert token_request.body["scope"] == "llm.read"


def test_token_is_renewed_shortly_before_it_expires(fake):
    now = [1000.0]
    fake.token_ttl = 100  # renewed 50 s early: half the lifetime, as it is under two minutes
    tokens = credentials(fake, clock=lambda: now[0])
    assert tokens.get() == "tok-1"
    now[0] += 49
    assert tokens.get() == "tok-1"
    now[0] += 2
    assert tokens.get() == "tok-2"
    assert len(fake.token_requests) == 2


def test_threads_needing_a_token_at_once_cause_one_token_request(fake):
    fake.token_delay = 0.2
    tokens = credentials(fake)
    assert all_at_once(THREADS, tokens.get) == ["tok-1"] * THREADS
    assert len(fake.token_requests) == 1


def test_upstream_401_refreshes_the_token_and_retries_once(fake):
    gated = provider("gated")
    gated.complete(HELLO)
    fake.revoke_tokens()
    assert gated.complete(HELLO).text
    assert [seen.bearer for seen in fake.requests_for("up-gated")] == ["tok-1", "tok-1", "tok-2"]
    assert len(fake.token_requests) == 2


def test_many_threads_hitting_401_together_refresh_once(fake):
    gated = provider("gated")
    gated.complete(HELLO)
    fake.revoke_tokens()
    fake.token_delay = 0.2
    replies = all_at_once(THREADS, lambda: gated.complete(HELLO))
    assert all(reply and reply.text for reply in replies)
    assert len(fake.token_requests) == 2
    assert {seen.bearer for seen in fake.requests_for("up-gated")} == {"tok-1", "tok-2"}


def test_upstream_refusing_a_fresh_token_too_is_an_auth_failure_without_a_loop(fake):
    fake.always("up-gated", "401")
    with pytest.raises(UpstreamAuthFailed):
        provider("gated").complete(HELLO)
    assert len(fake.requests_for("up-gated")) == 2
    assert len(fake.token_requests) == 2


def test_refused_client_is_an_auth_failure_that_does_not_show_the_secret(fake):
    with pytest.raises(UpstreamAuthFailed) as caught:
        credentials(fake, client_secret="s3cret-value-123").get()
    assert "s3cret-value-123" not in str(caught.value)


def test_token_endpoint_failing_is_unavailable_and_retryable(fake):
    fake.script("oauth", "500")
    with pytest.raises(UpstreamUnavailable) as caught:
        credentials(fake).get()
    assert caught.value.retryable


def test_unreadable_token_response_is_an_auth_failure(fake):
    fake.script("oauth", "malformed")
    with pytest.raises(UpstreamAuthFailed):
        credentials(fake).get()


@pytest.mark.parametrize("route", ["gated", "google"])
def test_every_outbound_call_says_it_comes_from_the_gateway(fake, route):
    provider(route).complete(HELLO)
    user_agents = {seen.headers["user-agent"] for seen in fake.seen}
    assert user_agents == {f"dgen-ping/{settings.VERSION}"}
    assert len(fake.seen) == (2 if route == "gated" else 1)  # the token request too
