"""Forged and broken JWTs, sent over HTTP to the three endpoint families of a real gateway.

tests/accounts/test_tokens.py proves the decoder refuses each kind of bad token; this suite
proves every family of endpoints runs it, before anything else happens: each attack gets a
401 in that family's error shape, the upstream is never called, the token is not echoed, and
no telemetry is recorded in the name of the SOEID the forger claimed. It adds the attacks a
decoder test cannot show: header tricks (embedded keys, key URLs, `kid`), the HMAC/RSA
confusion with a real RSA key pair, and a correctly signed token that is merely too big.
"""

import base64
import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from accounts.revocation import RECHECK_SECONDS
from tests.accounts.test_tokens import forge, valid_claims
from tests.telemetry import servers

VICTIM = "victim.forged"
HI = [{"role": "user", "content": "Hi"}]
ENDPOINTS = {
    "seed": ("/api/llm/completion", {"prompt": "Hi"}),
    "openai": ("/v1/chat/completions", {"model": "solo", "messages": HI}),
    "telemetry": ("/telemetry", {"event_type": "custom_event"}),
}


def b64(data: bytes | dict) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hmac_signed(header: dict, claims: dict, key: bytes, digest=hashlib.sha256) -> str:
    """Signed by hand: PyJWT refuses PEM keys as HMAC secrets, an attacker does not."""
    signing_input = f"{b64(header)}.{b64(claims)}"
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


def victim(**overrides) -> dict:
    return valid_claims(**{"soeid": VICTIM, "jti": f"forged-{time.monotonic_ns()}", **overrides})


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def tampered(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return f"{header}.{b64({**claims, **changes})}.{signature}"


class Forger:
    """Keys an attacker holds: an RSA pair of their own, and a key URL they listen on."""

    def __init__(self, rsa_key, key_url: str):
        self.rsa_private = private_pem(rsa_key)
        self.rsa_public = public_pem(rsa_key)
        self.jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
        self.key_url = key_url

    def rs256(self, **headers) -> str:
        return jwt.encode(victim(), self.rsa_private, algorithm="RS256", headers=headers)


def signing_key() -> bytes:
    return settings.JWT_SIGNING_KEY.encode()


def now() -> int:
    return int(time.time())


# Each forged token claims to be VICTIM (or "admin").
ATTACKS = {
    "alg-none": lambda f: jwt.encode(victim(), key=None, algorithm="none"),
    "alg-None-signed": lambda f: hmac_signed({"alg": "None"}, victim(), signing_key()),
    "alg-NONE-unsigned": lambda f: f"{b64({'alg': 'NONE'})}.{b64(victim())}.",
    "rs256-attacker-key": lambda f: f.rs256(),
    "rs256-embedded-jwk": lambda f: f.rs256(jwk=f.jwk),
    "rs256-key-url": lambda f: f.rs256(jku=f.key_url, x5u=f.key_url),
    "hs256-with-rsa-public-key": lambda f: hmac_signed({"alg": "HS256"}, victim(), f.rsa_public),
    "hs256-kid-empty-file": lambda f: hmac_signed(
        {"alg": "HS256", "kid": "/dev/null"}, victim(), b""
    ),
    "hs512-right-key": lambda f: hmac_signed(
        {"alg": "HS512"}, victim(), signing_key(), hashlib.sha512
    ),
    "wrong-key": lambda f: forge(victim(), key="another-key-that-is-also-long-enough-0123"),
    "signed-with-token-secret": lambda f: forge(victim(), key=settings.TOKEN_SECRET),
    "tampered-soeid": lambda f: tampered(forge(victim()), soeid="admin"),
    "tampered-exp": lambda f: tampered(forge(victim(exp=now() - 5)), exp=2**31),
    "signature-stripped": lambda f: forge(victim()).rsplit(".", 1)[0] + ".",
    "expired": lambda f: forge(victim(exp=now() - 1)),
    "not-yet-valid": lambda f: forge(victim(nbf=now() + 600)),
    "no-exp": lambda f: forge(victim(exp=None)),
    "no-jti": lambda f: forge(victim(jti=None)),
    "no-soeid": lambda f: forge(valid_claims(soeid=None)),
    "wrong-issuer": lambda f: forge(victim(iss="evil")),
    "refresh-type": lambda f: forge(victim(token_type="refresh")),
    "soeid-not-a-string": lambda f: forge(victim(soeid=[VICTIM])),
    "oversized-correctly-signed": lambda f: forge(victim(padding="x" * 5000)),
    "garbage": lambda f: "not.a.jwt",
    "two-segments": lambda f: forge(victim()).rsplit(".", 1)[0],
    "payload-not-json": lambda f: f"{b64({'alg': 'HS256'})}.{b64(b'[1,2')}.c2ln",
}


@pytest.fixture(scope="module")
def key_server():
    """A listening socket the key URLs point at: any connection to it is a fetch."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


@pytest.fixture(scope="module")
def forger(rsa_key, key_server) -> Forger:
    host, port = key_server.getsockname()
    return Forger(rsa_key, f"http://{host}:{port}/jwks.json")


def send(gateway, family: str, token: str, scheme: str = "X-API-Token", **headers: str):
    path, body = ENDPOINTS[family]
    if scheme == "Bearer":
        headers["Authorization"] = f"Bearer {token}"
    else:
        headers["X-API-Token"] = token
    return gateway.post(path, body, **headers)


def assert_refused(response, family: str, token: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    code = body["error"]["code"] if family == "openai" else body["code"]
    assert code in {"invalid_token", "authentication_failed"}, body
    assert token not in response.text


def test_a_correctly_signed_token_is_accepted_so_the_refusals_below_mean_something(gateway, forger):
    for family in ENDPOINTS:
        assert send(gateway, family, forge(valid_claims(jti=f"ok-{family}"))).status_code == 200


@pytest.mark.parametrize("family", ENDPOINTS)
@pytest.mark.parametrize("attack", ATTACKS)
def test_forged_token_is_refused_before_anything_happens(
    gateway, fake_upstream, forger, family, attack
):
    token = ATTACKS[attack](forger)
    before = len(fake_upstream.seen)
    scheme = "Bearer" if family == "openai" else "X-API-Token"
    assert_refused(send(gateway, family, token, scheme), family, token)
    assert len(fake_upstream.seen) == before  # nothing reached the upstream


def test_no_key_was_fetched_from_a_url_a_token_named(key_server):
    # After the matrix above (tests run in file order): nobody connected to the key URL.
    with pytest.raises(BlockingIOError):
        key_server.accept()


def test_no_event_is_recorded_in_the_name_of_a_forged_soeid(gateway, forger):
    agent = f"forger-{time.monotonic_ns()}"
    for attack in ATTACKS:
        token = ATTACKS[attack](forger)
        assert send(gateway, "telemetry", token, **{"User-Agent": agent}).status_code == 401
    events = gateway.wait_for_events(lambda e: e["user_agent"] == agent, at_least=len(ATTACKS))
    assert len(events) == len(ATTACKS)
    assert {(e["status_code"], e["soeid"], e["client_id"]) for e in events} == {(401, None, None)}


def test_a_revoked_token_is_refused_by_every_family(gateway):
    token = gateway.issue_token("revoked.user")
    for family in ENDPOINTS:
        assert send(gateway, family, token).status_code == 200
    revoke = [sys.executable, "manage.py", "revoke_token", "--token", token]
    subprocess.run(revoke, cwd=servers.ROOT, env=gateway.env, check=True, capture_output=True)
    # Revoked in another process: every worker refuses it once its cached answer is older than
    # the stated bound (accounts.revocation, docs/security.md).
    time.sleep(RECHECK_SECONDS)
    for family in ENDPOINTS:
        response = send(gateway, family, token)
        assert_refused(response, family, token)
        assert "revoked" in response.text
