"""Budgets over HTTP: the worst case is reserved before the upstream call, a call that does
not fit is refused in each API family's shape with Retry-After until the period resets,
and each period resets on the UTC calendar."""

import json
import re
from datetime import UTC, datetime

import pytest

from accounts.models import SpendCounter
from accounts.services import issue_token
from tests.governance.helpers import chat, spent
from tests.llmproxy.helpers import event_fields, post
from tests.telemetry import servers

pytestmark = pytest.mark.django_db
V1 = "/v1/chat/completions"
LLM_API = "/api/llm/completion"
# 2025-01-31 is a Friday: the day and the month end at midnight, the week on Monday 3 Feb.
FRIDAY_NIGHT = datetime(2025, 1, 31, 23, 59, 30, tzinfo=UTC)


BODIES = {V1: chat(max_tokens=100), LLM_API: {"prompt": "Hi", "max_tokens": 100}}
USED = 30  # what each answer uses: usage:10:20


def worst_case(body: dict) -> int:
    """What the gateway reserves for `body`: its JSON bytes as sent, plus max_tokens."""
    return len(json.dumps(body).encode()) + body["max_tokens"]


# A budget with room for one call's worst case, but not for a second one after it.
ROOM_FOR_ONE = {path: worst_case(body) + USED - 1 for path, body in BODIES.items()}


def call(client, auth, path=V1, **fields):
    return post(client, path, {**BODIES[path], **fields}, auth)


def test_a_call_whose_worst_case_does_not_fit_never_reaches_the_upstream(
    client, auth, fake, budget
):
    # The answer would use 12 tokens, but max_tokens alone is more than the budget.
    budget(tokens=99)
    response = call(client, auth)
    assert response.status_code == 429
    assert fake.seen == []
    assert "up to" in response.json()["error"]["message"]
    assert not SpendCounter.objects.filter(tokens__gt=0).exists()


def refused_worst_case(response) -> int:
    """The tokens a refusal says the call could have used."""
    assert response.status_code == 429, response.content
    return int(re.search(r"up to (\d+) tokens", response.json()["error"]["message"])[1])


def test_without_max_tokens_the_worst_case_is_the_models_output_limit(client, auth, budget):
    budget(tokens=1000)
    body = chat()  # /v1 passes the body on: the upstream may write up to the model's limit
    refused = post(client, V1, body, auth)
    assert refused_worst_case(refused) == len(json.dumps(body).encode()) + 32768


def test_the_worst_case_counts_max_tokens_for_each_of_n_choices(client, auth, budget):
    budget(tokens=1000)
    body = chat(max_tokens=400, n=3)
    refused = post(client, V1, body, auth)
    assert refused_worst_case(refused) == len(json.dumps(body).encode()) + 3 * 400


def test_embeddings_are_held_to_budgets_by_their_input_alone(client, auth, fake, budget):
    body = {"model": "vectors", "input": ["one", "two"]}
    budget(tokens=len(json.dumps(body).encode()) - 1)
    refused = post(client, "/v1/embeddings", body, auth)
    assert refused_worst_case(refused) == len(json.dumps(body).encode())
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("budget_exceeded", "budget_exceeded")
    assert event_fields(refused)["error"].startswith("budget_exceeded: Budget exceeded")
    assert fake.seen == []


def test_refusal_in_openais_shape_on_v1(client, auth, fake, budget, clock):
    clock(FRIDAY_NIGHT)
    budget(tokens=ROOM_FOR_ONE[V1])
    fake.always("up-priced", "usage:10:20")
    assert call(client, auth).status_code == 200
    refused = call(client, auth)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "30"  # seconds to midnight UTC
    error = refused.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "budget_exceeded",
        "budget_exceeded",
        None,
    )
    assert "day budget of SOEID 'gov.user'" in error["message"]
    fields = event_fields(refused)
    assert fields["error"].startswith("budget_exceeded: Budget exceeded")
    assert len(fake.seen) == 1


def test_refusal_in_the_projects_shape_on_api_llm(client, auth, fake, budget, clock):
    clock(FRIDAY_NIGHT)
    budget(scope="project", subject="gov-project", tokens=ROOM_FOR_ONE[LLM_API])
    fake.always("up-priced", "usage:10:20")
    assert call(client, auth, LLM_API).status_code == 200
    refused = call(client, auth, LLM_API)
    assert refused.status_code == 429 and refused["Retry-After"] == "30"
    body = refused.json()
    assert set(body) == {"detail", "code"} and body["code"] == "budget_exceeded"
    assert "day budget of PROJECT 'gov-project'" in body["detail"]


@pytest.mark.parametrize(
    ("period", "retry_after", "still_closed", "reopens"),
    [
        ("day", 30, datetime(2025, 1, 31, 23, 59, 59), datetime(2025, 2, 1, 0, 0, 0)),
        ("week", 2 * 86400 + 30, datetime(2025, 2, 2, 23, 59, 59), datetime(2025, 2, 3)),
        ("month", 30, datetime(2025, 1, 31, 23, 59, 59), datetime(2025, 2, 1, 0, 0, 0)),
    ],
)
def test_each_period_resets_on_the_utc_calendar(
    client, auth, fake, budget, clock, period, retry_after, still_closed, reopens
):
    clock(FRIDAY_NIGHT)
    budget(period=period, cost="0.0015")  # room for one call at 0.001 USD each
    fake.always("up-priced", "usage:0:100")
    body = chat(max_tokens=100, messages=[{"role": "user", "content": "x"}])
    assert post(client, V1, body, auth).status_code == 200
    refused = post(client, V1, body, auth)
    assert refused.status_code == 429 and int(refused["Retry-After"]) == retry_after
    clock(still_closed.replace(tzinfo=UTC))
    assert post(client, V1, body, auth).status_code == 429
    clock(reopens.replace(tzinfo=UTC))
    assert post(client, V1, body, auth).status_code == 200


def test_a_soeids_own_budget_replaces_the_default_of_the_same_period(client, auth, fake, budget):
    fake.always("up-priced", "usage:10:20")
    budget(scope="default_soeid", subject="", tokens=ROOM_FOR_ONE[V1])
    own = budget(tokens=10**6)
    for _ in range(3):
        assert call(client, auth).status_code == 200
    assert spent(own)[0] == 3 * USED


def test_the_default_budget_counts_each_soeid_apart(client, auth, fake, budget, token):
    fake.always("up-priced", "usage:10:20")
    budget(scope="default_soeid", subject="", tokens=ROOM_FOR_ONE[V1])
    assert call(client, auth).status_code == 200
    assert call(client, auth).status_code == 429
    other = issue_token(soeid="gov.other", issued_by="test").token
    assert call(client, {"HTTP_X_API_TOKEN": other}).status_code == 200


def test_every_binding_budget_must_have_room(client, auth, fake, budget):
    fake.always("up-priced", "usage:10:20")
    roomy = budget(tokens=10**6)
    budget(scope="project", subject="gov-project", period="month", tokens=ROOM_FOR_ONE[V1])
    assert call(client, auth).status_code == 200
    refused = call(client, auth)
    assert "month budget of PROJECT 'gov-project'" in refused.json()["error"]["message"]
    assert spent(roomy)[0] == USED  # the refused call left nothing on the other budget


def test_a_cost_budget_refuses_a_model_without_a_price(client, auth, fake, budget):
    budget(cost="1.00")
    response = call(client, auth, model="free")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "unpriced_model"
    assert fake.seen == []


def test_budgets_that_cannot_be_checked_refuse_rather_than_let_through(
    client, auth, fake, budget, settings
):
    budget(tokens=10**6)
    nowhere = f"redis://127.0.0.1:{servers.free_port()}/0"
    ledger = {"BACKEND": "accounts.ledger.redis.RedisLedger", "OPTIONS": {"url": nowhere}}
    settings.BUDGETS = {**settings.BUDGETS, "LEDGER": ledger}
    v1, llm_api = call(client, auth, V1), call(client, auth, LLM_API)
    assert (v1.status_code, v1.json()["error"]["code"]) == (503, "budget_unavailable")
    assert (llm_api.status_code, llm_api.json()["code"]) == (503, "budget_unavailable")
    assert fake.seen == []


def test_a_caller_without_budgets_is_not_limited(client, auth, fake, budget):
    budget(subject="someone.else", tokens=1)
    assert call(client, auth).status_code == 200
