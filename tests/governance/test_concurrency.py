"""Budgets under real concurrency: 2 gunicorn workers, 50 simultaneous calls, a budget with
room for exactly 10 (the fake upstream reports known usage, equal to each call's reserved
worst case), on the database ledger (SQLite, WAL) and on a real Redis. Exactly 10 are
served and 40 refused; the spend is exactly the budget; it survives a gateway restart.

The database case runs with CACHE_URL at its default, the per-process local-memory cache:
that configuration counts spend in the database, never in the local cache."""

import http.client
import json
import re
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from tests.governance.conftest import PRICED, governed_routes
from tests.security.gateway import Gateway

pytestmark = pytest.mark.slow
CALLS, ROOM = 50, 10
MAX_TOKENS = 50
BODY = json.dumps(
    {"model": "priced", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": MAX_TOKENS}
)
# What the gateway reserves for BODY: one prompt token per body byte, plus max_tokens.
PROMPT = len(BODY.encode())
WORST_TOKENS = PROMPT + MAX_TOKENS
# Its cost, by hand at PRICED: prompt at the input price, completion at the output price.
WORST_COST = (PROMPT * PRICED.input + MAX_TOKENS * PRICED.output) / 10**6


@pytest.fixture(params=["database", "redis"])
def ledger_env(request) -> dict:
    if request.param == "database":
        return {}  # locmem cache: the ledger is the database (SQLite, WAL, shared file)
    return {"CACHE_URL": request.getfixturevalue("redis_url")}


@pytest.fixture
def gateway(tmp_path, fake_server, ledger_env):
    fake_server.reset()
    # Each call takes 0.3 s upstream, so all of them are in flight together; the fake reports
    # exactly the usage the gateway reserved (the spend is then exactly 10 calls' worth).
    fake_server.delay = 0.3
    fake_server.always("up-priced", f"usage:{PROMPT}:{MAX_TOKENS}")
    env = {
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "32",
        "DEFAULT_MODEL": "priced",
        "GUNICORN_ACCESS_LOG": "-",
        "GUNICORN_CMD_ARGS": "--access-logformat 'served %(p)s %(U)s %(s)s'",
        **ledger_env,
    }
    routing = {"routes": governed_routes(fake_server), "defaults": {"retries": 0}}
    gateway = Gateway.configure(tmp_path / "gateway", routing, **env)
    try:
        yield gateway.start()
    finally:
        gateway.stop()
        fake_server.reset()


def call(gateway: Gateway, token: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        headers = {"X-API-Token": token, "Content-Type": "application/json"}
        connection.request("POST", "/v1/chat/completions", BODY, headers)
        response = connection.getresponse()
        body = json.loads(response.read())
        code = body["error"]["code"] if response.status != 200 else "ok"
        return response.status, code
    finally:
        connection.close()


def budget_row(gateway: Gateway) -> dict:
    (row,) = gateway.get("/api/budgets", **{"X-Token-Secret": gateway.token_secret}).json()
    return row


def test_exactly_the_calls_the_budget_allows_are_served(gateway, fake_server):
    secret = {"X-Token-Secret": gateway.token_secret}
    limits = {"token_limit": ROOM * WORST_TOKENS, "cost_limit": float(ROOM * WORST_COST)}
    body = {"scope": "soeid", "subject": "race.user", "period": "day", **limits}
    assert gateway.post("/api/budgets", body, **secret).status_code == 201
    token = gateway.issue_token("race.user")

    with ThreadPoolExecutor(CALLS) as pool:
        outcomes = list(pool.map(lambda _: call(gateway, token), range(CALLS)))

    assert outcomes.count((200, "ok")) == ROOM, outcomes
    assert outcomes.count((429, "budget_exceeded")) == CALLS - ROOM, outcomes
    assert len(fake_server.requests_for("up-priced")) == ROOM
    row = budget_row(gateway)
    assert row["spent_tokens"] == ROOM * WORST_TOKENS
    assert Decimal(str(row["spent_cost"])) == ROOM * WORST_COST
    # Both workers took calls: a per-process count would have let each serve 10.
    workers = set(re.findall(r"served <(\d+)> /v1/chat/completions", gateway.log()))
    assert len(workers) == 2, gateway.log()[-2000:]

    # The spend outlives the gateway.
    gateway.stop()
    gateway.start()
    assert budget_row(gateway)["spent_tokens"] == ROOM * WORST_TOKENS
    assert call(gateway, token) == (429, "budget_exceeded")
