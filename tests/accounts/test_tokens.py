"""Decoding refuses every token that is not exactly what we issued."""

import base64
import json
import time

import jwt
import pytest
from django.conf import settings

from accounts.errors import InvalidToken
from accounts.services import revoke_token, verify_token
from accounts.tokens import decode_token, issue_token


def forge(claims: dict, key: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key or settings.JWT_SIGNING_KEY, algorithm=algorithm)


def valid_claims(**overrides) -> dict:
    now = int(time.time())
    claims = {
        "token_type": "access",
        "soeid": "alice",
        "project_id": "",
        "jti": "abc",
        "iat": now,
        "exp": now + 60,
        "iss": settings.JWT_ISSUER,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def test_issued_token_round_trips():
    issued = issue_token(soeid="alice", project_id="p", expires_in=120)
    claims = decode_token(issued.token)
    assert claims["soeid"] == "alice" and claims["project_id"] == "p"
    assert claims["jti"] == issued.jti
    assert claims["exp"] - claims["iat"] == 120
    assert jwt.get_unverified_header(issued.token)["alg"] == "HS256"


def test_forged_valid_claims_are_accepted_so_the_rejections_below_mean_something():
    assert decode_token(forge(valid_claims()))["soeid"] == "alice"


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(valid_claims(exp=int(time.time()) - 1), id="expired"),
        pytest.param(valid_claims(nbf=int(time.time()) + 600), id="not-yet-valid"),
        pytest.param(valid_claims(iss="someone-else"), id="wrong-issuer"),
        pytest.param(valid_claims(iss=None), id="no-issuer"),
        pytest.param(valid_claims(soeid=None), id="no-soeid"),
        pytest.param(valid_claims(soeid="bad soeid"), id="invalid-soeid"),
        pytest.param(valid_claims(jti=None), id="no-jti"),
        pytest.param(valid_claims(exp=None), id="no-exp"),
        pytest.param(valid_claims(iat=None), id="no-iat"),
        pytest.param(valid_claims(token_type="refresh"), id="wrong-type"),
    ],
)
def test_token_with_bad_claims_is_rejected(claims):
    with pytest.raises(InvalidToken):
        decode_token(forge(claims))


def test_token_signed_with_another_key_is_rejected():
    with pytest.raises(InvalidToken):
        decode_token(forge(valid_claims(), key="another-key-that-is-also-long-enough-123"))


def test_tampered_payload_is_rejected():
    header, payload, signature = issue_token(soeid="alice").token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["soeid"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        decode_token(f"{header}.{forged}.{signature}")


def test_alg_none_is_rejected():
    unsigned = jwt.encode(valid_claims(), key=None, algorithm="none")
    with pytest.raises(InvalidToken):
        decode_token(unsigned)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_hs512_is_rejected_because_the_algorithm_is_pinned():
    with pytest.raises(InvalidToken):
        decode_token(forge(valid_claims(), algorithm="HS512"))


def test_oversized_token_is_rejected_without_decoding():
    with pytest.raises(InvalidToken):
        decode_token("a" * 5000)


@pytest.mark.django_db
def test_revoked_token_is_rejected():
    token = issue_token(soeid="alice").token
    assert verify_token(token)["soeid"] == "alice"
    revoke_token(raw=token)
    with pytest.raises(InvalidToken, match="revoked"):
        verify_token(token)
