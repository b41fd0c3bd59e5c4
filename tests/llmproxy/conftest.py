"""The fake upstream and a routing table pointing at it, for every llmproxy test."""

import pytest

from tests.fake_upstream import FakeUpstream

# Small timeouts and backoffs keep failure tests fast; each test may change them.
FAST = {"TIMEOUT": 2.0, "CONNECT_TIMEOUT": 1.0, "RETRIES": 1, "BACKOFF": 0.01}
FAST["MAX_RETRY_WAIT"] = 0.5
OAUTH = {"client_id": "client-id", "client_secret": "client-secret"}


def standard_routes(fake: FakeUpstream) -> dict:
    """gemini (the default model) → OpenAI-style upstream with a Gemini fallback; plus
    single routes for each provider, one authenticated with OAuth, and an embedding route
    on each provider."""
    openai = {"provider": "openai", "base_url": fake.openai_url, "api_key": "sk-test"}
    gemini = {"provider": "gemini", "base_url": fake.gemini_url, "api_key": "sk-test"}
    return {
        "gemini": {**openai, "model": "up-main", "fallbacks": ["backup"]},
        "backup": {**gemini, "model": "up-backup"},
        "solo": {**openai, "model": "up-solo", "aliases": ["solo-alias"]},
        "google": {**gemini, "model": "up-google"},
        "gated": {
            "provider": "openai",
            "base_url": fake.openai_url,
            "model": "up-gated",
            "oauth": {"token_url": fake.token_url, **OAUTH},
        },
        "vectors": {**openai, "model": "up-vectors", "kind": "embedding"},
        "gvectors": {**gemini, "model": "up-gvectors", "kind": "embedding"},
    }


@pytest.fixture(scope="session")
def fake_server():
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def fake(fake_server):
    fake_server.reset()
    return fake_server


@pytest.fixture(autouse=True)
def llm(settings, fake):
    """settings.LLM aimed at the fake; call llm(routes, **LLM options) to change it."""

    def configure(routes: dict | None = None, **options) -> None:
        table = {"routes": routes if routes is not None else standard_routes(fake)}
        settings.LLM = {**settings.LLM, **FAST, **options, "ROUTES": table}

    configure()
    return configure


@pytest.fixture
def auth(user_token):
    """Headers of alice's real token."""
    return {"HTTP_X_API_TOKEN": user_token}
