import re

import pytest

from accounts.models import TokenRecord
from dgen_ping_site.clock import iso_utc

ISO_MS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

pytestmark = pytest.mark.django_db


def generate(client, headers, **body):
    return client.post("/generate-token", body, format="json", **headers)


def verify(client, headers, token):
    return client.post("/verify-token", {"token": token}, format="json", **headers)


def test_generated_token_verifies_with_its_soeid(client, secret_headers):
    response = generate(client, secret_headers, soeid="john.doe_1")
    assert response.status_code == 200
    body = response.json()
    assert body["soeid"] == "john.doe_1"
    assert ISO_MS_Z.fullmatch(body["timestamp"]) and ISO_MS_Z.fullmatch(body["expires_at"])
    verified = verify(client, secret_headers, body["token"]).json()
    assert verified["valid"] is True
    assert verified["data"]["soeid"] == "john.doe_1"
    assert ISO_MS_Z.fullmatch(verified["timestamp"])


def test_a_token_without_a_soeid_is_refused(client, secret_headers):
    # Not a token for default_user: a forgotten field must not issue anything.
    response = generate(client, secret_headers, project_id="p1")
    assert response.status_code == 400
    assert response.json()["fields"]["soeid"] == ["This field is required."]
    assert not TokenRecord.objects.exists()


@pytest.mark.parametrize("path", ["/generate-token", "/verify-token"])
@pytest.mark.parametrize("headers", [{}, {"HTTP_X_TOKEN_SECRET": "wrong"}, "secret"])
def test_a_method_the_endpoint_lacks_is_405_whoever_asks(client, secret_headers, path, headers):
    headers = secret_headers if headers == "secret" else headers
    response = client.get(path, **headers)
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    assert response.json()["code"] == "method_not_allowed"


def test_an_issued_token_is_recorded_in_the_registry(client, secret_headers):
    body = generate(client, secret_headers, soeid="reg.user", project_id="p2", name="ci").json()
    record = TokenRecord.objects.get(pk=body["jti"])
    assert (record.soeid, record.project_id, record.name) == ("reg.user", "p2", "ci")
    assert record.issued_by == "api:127.0.0.1"
    assert iso_utc(record.expires_at) == body["expires_at"]


def test_project_and_expiry_are_carried_in_the_token(client, secret_headers):
    body = generate(client, secret_headers, soeid="bob", project_id="p1", expires_in=60).json()
    data = verify(client, secret_headers, body["token"]).json()["data"]
    assert data["project_id"] == "p1"
    assert data["expires_at"] == body["expires_at"]


@pytest.mark.parametrize("headers", [{}, {"HTTP_X_TOKEN_SECRET": "wrong"}])
def test_wrong_or_missing_secret_is_forbidden(client, headers):
    for path in ("/generate-token", "/verify-token"):
        response = client.post(path, {"soeid": "bob", "token": "x"}, format="json", **headers)
        assert response.status_code == 403
        assert response.json()["code"] == "invalid_token_secret"


@pytest.mark.parametrize("soeid", ["", "a b", "x" * 65, "bob;drop", "ü"])
def test_invalid_soeid_is_a_clear_400(client, secret_headers, soeid):
    response = generate(client, secret_headers, soeid=soeid)
    assert response.status_code == 400
    body = response.json()
    assert "soeid" in body["fields"]


def test_expiry_above_the_cap_is_refused(client, secret_headers, settings):
    response = generate(client, secret_headers, expires_in=settings.TOKEN_MAX_LIFETIME_SECONDS + 1)
    assert response.status_code == 400
    assert "expires_in" in response.json()["fields"]


def test_garbage_token_verifies_as_invalid(client, secret_headers):
    body = verify(client, secret_headers, "not-a-jwt").json()
    assert body["valid"] is False
    assert body["error"]


def test_default_token_verifies_only_when_allowed(client, secret_headers, settings):
    assert verify(client, secret_headers, "1").json()["valid"] is False
    settings.ALLOW_DEFAULT_TOKEN = True
    body = verify(client, secret_headers, "1").json()
    assert body == {"valid": True, "data": body["data"], "timestamp": body["timestamp"]}
    assert body["data"]["soeid"] == "default_user"


def test_malformed_json_is_a_400_with_a_message(client, secret_headers):
    response = client.post(
        "/generate-token", data="{not json", content_type="application/json", **secret_headers
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_wrong_type_gives_field_detail(client, secret_headers):
    response = generate(client, secret_headers, soeid="bob", expires_in="soon")
    assert response.status_code == 400
    assert "expires_in" in response.json()["fields"]


def test_missing_token_field_gives_field_detail(client, secret_headers):
    response = client.post("/verify-token", {}, format="json", **secret_headers)
    assert response.status_code == 400
    assert "token" in response.json()["fields"]
