"""GET /api/tokens: the token registry for administrators (X-Token-Secret)."""

from datetime import timedelta

import pytest

from accounts.models import TokenRecord
from accounts.services import issue_token, revoke_token
from dgen_ping_site.clock import utcnow

pytestmark = pytest.mark.django_db


def listing(client, headers, **params):
    return client.get("/api/tokens", params, **headers)


@pytest.fixture
def three(db):
    """alice: one active, one revoked; bob: one expired."""
    kept = issue_token(soeid="alice", project_id="p1", name="laptop", issued_by="api:10.0.0.1")
    gone = issue_token(soeid="alice", issued_by="command:root")
    revoke_token(jti=gone.jti, reason="lost")
    old = issue_token(soeid="bob", project_id="p1", issued_by="admin:root")
    TokenRecord.objects.filter(pk=old.jti).update(expires_at=utcnow() - timedelta(seconds=1))
    return kept, gone, old


def test_lists_every_token_newest_first_without_the_token(client, secret_headers, three):
    body = listing(client, secret_headers).json()
    assert body["count"] == 3
    assert {row["jti"] for row in body["results"]} == {t.jti for t in three}
    issued = [row["issued_at"] for row in body["results"]]
    assert issued == sorted(issued, reverse=True)
    kept = next(row for row in body["results"] if row["jti"] == three[0].jti)
    assert kept == {
        "jti": three[0].jti,
        "soeid": "alice",
        "project_id": "p1",
        "name": "laptop",
        "issued_at": kept["issued_at"],
        "expires_at": kept["expires_at"],
        "issued_by": "api:10.0.0.1",
        "revoked_at": None,
        "revoked_reason": "",
        "status": "active",
    }
    assert all(t.token not in str(body) for t in three)


def test_filters_combine(client, secret_headers, three):
    def jtis(**params):
        return {row["jti"] for row in listing(client, secret_headers, **params).json()["results"]}

    assert jtis(soeid="alice") == {three[0].jti, three[1].jti}
    assert jtis(project="p1") == {three[0].jti, three[2].jti}
    assert jtis(status="revoked") == {three[1].jti}
    assert jtis(soeid="alice", status="active") == {three[0].jti}


def test_expired_tokens_show_as_expired(client, secret_headers, three):
    rows = listing(client, secret_headers, status="expired").json()["results"]
    assert [row["jti"] for row in rows] == [three[2].jti]


def test_pages_with_limit_and_offset(client, secret_headers, three):
    everything = [row["jti"] for row in listing(client, secret_headers).json()["results"]]
    page = listing(client, secret_headers, limit=2, offset=1).json()
    assert page["count"] == 3
    assert [row["jti"] for row in page["results"]] == everything[1:3]


@pytest.mark.parametrize(
    "params", [{"status": "lost"}, {"limit": "0"}, {"limit": "x"}, {"soeid": "a b"}]
)
def test_bad_filters_are_a_400_naming_the_field(client, secret_headers, params):
    response = listing(client, secret_headers, **params)
    assert response.status_code == 400
    assert set(response.json()["fields"]) == set(params)


@pytest.mark.parametrize("headers", [{}, {"HTTP_X_TOKEN_SECRET": "wrong"}])
def test_the_registry_needs_the_token_secret(client, headers, user_token):
    assert listing(client, headers).status_code == 403
    assert listing(client, {"HTTP_X_API_TOKEN": user_token}).status_code == 403
