"""Priced routes on a fake upstream, budgets, and a clock the tests move."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.core.cache import cache

from accounts.services import issue_token, set_budget
from llmproxy.routing import Price
from tests.fake_upstream import FakeUpstream
from tests.governance import clock as test_clock
from tests.llmproxy import conftest as llmproxy_fixtures

# The fake upstream, once per session and reset for each test, as the llmproxy tests have it.
fake_server, fake = llmproxy_fixtures.fake_server, llmproxy_fixtures.fake
# USD per million tokens.
PRICE = {"input": "2.50", "output": "10.00", "cached_input": "1.25"}
PRICED = Price(Decimal("2.50"), Decimal("10.00"), Decimal("1.25"))


def governed_routes(upstream: FakeUpstream) -> dict:
    """priced (OpenAI wire) and gpriced (Gemini wire) with PRICE; free has no price;
    cheap falls back to priced; vectors, embeddings at PRICE."""
    openai = {"provider": "openai", "base_url": upstream.openai_url, "api_key": "sk-test"}
    gemini = {"provider": "gemini", "base_url": upstream.gemini_url, "api_key": "sk-test"}
    return {
        "priced": {**openai, "model": "up-priced", "price": PRICE},
        "gpriced": {**gemini, "model": "up-gpriced", "price": PRICE},
        "free": {**openai, "model": "up-free"},
        "cheap": {
            **openai,
            "model": "up-cheap",
            "price": {"input": "1", "output": "2"},
            "fallbacks": ["priced"],
        },
        "vectors": {**openai, "model": "up-vectors", "kind": "embedding", "price": PRICE},
    }


@pytest.fixture(autouse=True)
def governed(settings, fake):
    """settings.LLM on the priced routes, no retries, limits off unless a test sets them."""
    routes = {"routes": governed_routes(fake), "defaults": {"retries": 0}}
    settings.LLM = {**settings.LLM, "ROUTES": routes, "DEFAULT_MODEL": "priced"}
    settings.RATE_LIMIT = 0
    settings.TOKEN_RATE_LIMIT = 0
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock(settings):
    """Budget time, set by hand: clock(datetime) moves it; real time again after the test."""
    settings.BUDGETS = {**settings.BUDGETS, "CLOCK": "tests.governance.clock.now"}

    def move(moment: datetime) -> None:
        test_clock.set_moment(moment)

    yield move
    test_clock.set_moment(None)


@pytest.fixture
def token(db) -> str:
    """A registered token for SOEID gov.user, project gov-project."""
    return issue_token(soeid="gov.user", project_id="gov-project", issued_by="test").token


@pytest.fixture
def auth(token) -> dict:
    return {"HTTP_X_API_TOKEN": token}


@pytest.fixture
def budget(db):
    """budget(scope, subject, period, tokens=..., cost=...) sets one."""

    def make(scope="soeid", subject="gov.user", period="day", tokens=None, cost=None):
        cost = None if cost is None else Decimal(str(cost))
        return set_budget(
            scope=scope, subject=subject, period=period, token_limit=tokens, cost_limit=cost
        )[0]

    return make
