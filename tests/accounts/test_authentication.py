import pytest

from accounts.services import revoke_token
from accounts.tokens import issue_token

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]


def whoami(client, **headers):
    return client.get("/whoami", **headers)


def test_x_api_token_header_authenticates(client, user_token):
    response = whoami(client, HTTP_X_API_TOKEN=user_token)
    assert response.status_code == 200
    assert response.json() == {"soeid": "alice", "default": False}


def test_bearer_header_authenticates(client, user_token):
    response = whoami(client, HTTP_AUTHORIZATION=f"Bearer {user_token}")
    assert response.json()["soeid"] == "alice"


def test_missing_token_is_401_when_default_token_is_off(client):
    response = whoami(client)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


def test_token_1_is_refused_when_default_token_is_off(client):
    assert whoami(client, HTTP_X_API_TOKEN="1").status_code == 401


@pytest.mark.usefixtures("default_token_on")
@pytest.mark.parametrize("headers", [{}, {"HTTP_X_API_TOKEN": "1"}])
def test_default_token_acts_as_default_user(client, headers):
    assert whoami(client, **headers).json() == {"soeid": "default_user", "default": True}


@pytest.mark.usefixtures("default_token_on")
def test_a_real_token_still_wins_when_default_token_is_on(client, user_token):
    assert whoami(client, HTTP_X_API_TOKEN=user_token).json()["soeid"] == "alice"


@pytest.mark.usefixtures("default_token_on")
def test_an_invalid_token_is_not_downgraded_to_the_default_user(client):
    assert whoami(client, HTTP_X_API_TOKEN="garbage").status_code == 401


def test_revoked_token_is_rejected_over_http(client, user_token):
    revoke_token(raw=user_token)
    response = whoami(client, HTTP_X_API_TOKEN=user_token)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_valid_token_costs_one_query_the_revocation_check(client, django_assert_num_queries):
    token = issue_token(soeid="carol").token
    with django_assert_num_queries(1):
        assert whoami(client, HTTP_X_API_TOKEN=token).status_code == 200


def test_rate_limit_is_per_soeid_with_retry_after(client, settings):
    settings.RATE_LIMIT = 2
    alice, bob = issue_token(soeid="alice2").token, issue_token(soeid="bob2").token
    statuses = [whoami(client, HTTP_X_API_TOKEN=alice).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = whoami(client, HTTP_X_API_TOKEN=alice)
    assert int(limited["Retry-After"]) > 0
    assert limited.json()["code"] == "throttled"
    assert whoami(client, HTTP_X_API_TOKEN=bob).status_code == 200
