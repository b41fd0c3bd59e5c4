"""Per-SOEID rate limits: 429 with Retry-After on every endpoint family, one SOEID's burst
leaving the others alone, and one budget across gunicorn workers when CACHE_URL names a
shared cache (Redis).

The cross-worker test starts its own redis-server (tests.redis_server) and skips, saying so, when
there is none on PATH (Debian: `apt-get install redis-server`).
"""

import http.client
import re

import pytest
import redis
from django.core.cache import cache

from accounts.tokens import issue_token
from tests.security.gateway import Gateway, routes

pytestmark = pytest.mark.django_db
HI = [{"role": "user", "content": "Hi"}]
FAMILIES = {
    "seed": ("/api/llm/completion", {"prompt": "Hi"}),
    "openai": ("/v1/chat/completions", {"model": "solo", "messages": HI}),
    "telemetry": ("/telemetry", {}),
    "models": ("/v1/models", None),
}
LIMIT = 5
BURST = 20


@pytest.fixture
def limited(settings, fake_upstream):
    settings.RATE_LIMIT = 2
    settings.LLM = {**settings.LLM, "ROUTES": routes(fake_upstream)}
    cache.clear()
    yield
    cache.clear()


def call(client, family: str, token: str):
    path, body = FAMILIES[family]
    if body is None:
        return client.get(path, HTTP_X_API_TOKEN=token)
    return client.post(path, body, content_type="application/json", HTTP_X_API_TOKEN=token)


@pytest.mark.usefixtures("limited")
@pytest.mark.parametrize("family", FAMILIES)
def test_over_the_limit_is_429_with_retry_after_for_that_soeid_only(client, family):
    alice, bob = issue_token(soeid="rl.alice").token, issue_token(soeid="rl.bob").token
    assert [call(client, family, alice).status_code for _ in range(3)] == [200, 200, 429]
    refused = call(client, family, alice)
    assert 0 < int(refused["Retry-After"]) <= 60
    body = refused.json()
    if family in {"openai", "models"}:
        assert body["error"]["type"] == "rate_limit_error"
    else:
        assert body["code"] == "throttled"
    assert call(client, family, bob).status_code == 200


@pytest.mark.usefixtures("limited")
def test_the_budget_is_shared_by_every_endpoint_of_one_soeid(client):
    token = issue_token(soeid="rl.carol").token
    assert call(client, "seed", token).status_code == 200
    assert call(client, "telemetry", token).status_code == 200
    assert call(client, "openai", token).status_code == 429


# --- Across workers, with Redis ------------------------------------------------------------


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory, fake_upstream, redis_url):
    """Two gunicorn workers sharing Redis; the access log names the worker of each request."""
    directory = tmp_path_factory.mktemp("rate-limit")
    env = {
        "WEB_CONCURRENCY": "2",
        "RATE_LIMIT": str(LIMIT),
        "CACHE_URL": redis_url,
        "GUNICORN_ACCESS_LOG": "-",
        "GUNICORN_CMD_ARGS": "--access-logformat 'served %(p)s %(U)s %(s)s'",
    }
    with Gateway.configure(directory, routes(fake_upstream), **env) as gateway:
        yield gateway


def burst(gateway, token: str) -> list[int]:
    """BURST requests, each on a new connection, so the kernel spreads them over workers."""
    statuses = []
    for _ in range(BURST):
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
        headers = {"X-API-Token": token, "Content-Type": "application/json"}
        connection.request("POST", "/telemetry", "{}", headers)
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
        assert response.status != 429 or int(response.getheader("Retry-After")) > 0
        connection.close()
    return statuses


def test_the_limit_holds_across_workers_with_a_shared_cache(two_workers):
    token = two_workers.issue_token("burst.user")
    statuses = burst(two_workers, token)
    assert (statuses.count(200), statuses.count(429)) == (LIMIT, BURST - LIMIT), statuses
    # Both workers answered: with a cache per process, each would have allowed LIMIT.
    workers = set(re.findall(r"served <(\d+)> /telemetry", two_workers.log()))
    assert len(workers) == 2, two_workers.log()[-2000:]


def test_when_the_shared_cache_goes_away_requests_still_succeed(two_workers, redis_url):
    # Last: it stops Redis. The limit is not applied meanwhile, and the log says so.
    token = two_workers.issue_token("outage.user")
    redis.Redis.from_url(redis_url).shutdown(nosave=True)
    statuses = [two_workers.post("/telemetry", {}, **{"X-API-Token": token}).status_code]
    statuses += [two_workers.post("/telemetry", {}, **{"X-API-Token": token}).status_code]
    assert statuses == [200, 200]
    assert "Rate limit not applied: the cache is unavailable (ConnectionError)" in two_workers.log()
