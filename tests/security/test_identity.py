"""Who a request is charged to is decided by the token alone.

Over HTTP against the production-mode gateway (ALLOW_DEFAULT_TOKEN off): the default token
and a missing token are refused by every endpoint family, and a body naming someone else
cannot move a call or an event to them. With the default token on (development, shown
in-process), the body's SOEID is the only identity there is, as in the seed.
"""

import time

import pytest

from tests.llmproxy.helpers import event_fields
from tests.security.gateway import routes

HI = [{"role": "user", "content": "Hi"}]
FAMILIES = {
    "seed-completion": ("/api/llm/completion", {"prompt": "Hi"}),
    "seed-chat": ("/api/llm/chat", {"messages": HI}),
    "openai": ("/v1/chat/completions", {"model": "solo", "messages": HI}),
    "telemetry": ("/telemetry", {"event_type": "custom_event"}),
}
NO_VALID_TOKEN = {
    "no-header": {},
    "token-1": {"X-API-Token": "1"},
    "bearer-1": {"Authorization": "Bearer 1"},
    "empty": {"X-API-Token": ""},
    "bearer-empty": {"Authorization": "Bearer "},
}


@pytest.mark.parametrize("credential", NO_VALID_TOKEN)
@pytest.mark.parametrize("family", FAMILIES)
def test_default_token_and_no_token_are_refused_when_not_allowed(
    gateway, fake_upstream, family, credential
):
    path, body = FAMILIES[family]
    before = len(fake_upstream.seen)
    response = gateway.post(path, {**body, "soeid": "default_user"}, **NO_VALID_TOKEN[credential])
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert len(fake_upstream.seen) == before


@pytest.fixture(scope="module")
def alice(gateway) -> dict:
    return {"X-API-Token": gateway.issue_token("alice.sec", project_id="proj-a")}


@pytest.mark.parametrize("family", ["seed-completion", "seed-chat"])
@pytest.mark.parametrize("claimed", ["mallory", "ALICE.SEC", "alice"])
def test_a_body_soeid_other_than_the_tokens_is_403(gateway, fake_upstream, alice, family, claimed):
    path, body = FAMILIES[family]
    before = len(fake_upstream.seen)
    response = gateway.post(path, {**body, "soeid": claimed}, **alice)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "soeid_mismatch"
    assert len(fake_upstream.seen) == before


def test_no_body_field_moves_a_call_or_an_event_to_someone_else(gateway, alice):
    agent = f"spoof-{time.monotonic_ns()}"
    openai_body = {**FAMILIES["openai"][1], "user": "mallory"}
    telemetry_body = {"metadata": {"soeid": "mallory", "client_id": "mallory"}}
    answers = [
        gateway.post("/v1/chat/completions", openai_body, **alice, **{"User-Agent": agent}),
        gateway.post("/telemetry", telemetry_body, **alice, **{"User-Agent": agent}),
        gateway.post("/api/llm/completion", {"prompt": "x"}, **alice, **{"User-Agent": agent}),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    events = gateway.wait_for_events(lambda e: e["user_agent"] == agent, at_least=3)
    assert {(e["soeid"], e["client_id"]) for e in events} == {("alice.sec", "alice.sec")}
    telemetry = next(e for e in events if e["endpoint"] == "/telemetry")
    assert telemetry["extra"]["claimed_soeid"] == "mallory"


# --- Development mode: the default token --------------------------------------------------


@pytest.fixture
def development(settings, fake_upstream, default_token_on):
    settings.LLM = {**settings.LLM, "ROUTES": routes(fake_upstream)}


@pytest.mark.django_db
@pytest.mark.usefixtures("development")
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/llm/completion", {"prompt": "Hi", "soeid": "carol"}),
        ("/api/llm/chat", {"messages": HI, "soeid": "carol"}),
        ("/telemetry", {"metadata": {"soeid": "carol"}}),
    ],
)
@pytest.mark.parametrize("credential", [{}, {"HTTP_X_API_TOKEN": "1"}])
def test_with_the_default_token_the_body_soeid_is_who_calls(client, path, body, credential):
    response = client.post(path, body, content_type="application/json", **credential)
    assert response.status_code == 200, response.content
    assert event_fields(response)["soeid"] == "carol"
