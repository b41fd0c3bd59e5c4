"""The cache of verified tokens (accounts.verified): a token's signature and claims are
decoded once per process, and a remembered token is refused as soon as the decoder would
refuse it — expired (no leeway beyond the decoder's), revoked (the revocation check still
runs on every request), or not exactly the same string."""

import time

import pytest

from accounts import services
from accounts.errors import InvalidToken
from accounts.services import revoke_token
from accounts.tokens import decode_token, issue_token
from accounts.verified import VerifiedTokens
from tests.accounts.test_authentication import whoami
from tests.accounts.test_tokens import forge, valid_claims

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]


class Decoder:
    """The real decoder, counting its calls."""

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, raw: str) -> dict:
        self.calls.append(raw)
        return decode_token(raw)


@pytest.fixture
def decoder(monkeypatch) -> Decoder:
    """The process's cache, emptied, in front of a counting decoder."""
    counting = Decoder()
    monkeypatch.setattr(services.verified, "decode", counting)
    services.verified.clear()
    return counting


def one_char_changed(token: str, part: int) -> str:
    """`token` with one character of its header (0), payload (1) or signature (2) changed,
    in the middle of the part (a last base64 character may only carry padding bits)."""
    parts = token.split(".")
    middle = len(parts[part]) // 2
    changed = "A" if parts[part][middle] != "A" else "B"
    parts[part] = parts[part][:middle] + changed + parts[part][middle + 1 :]
    return ".".join(parts)


def test_a_token_is_decoded_once_while_valid(client, decoder):
    token = issue_token(soeid="gina").token
    for _ in range(3):
        assert whoami(client, HTTP_X_API_TOKEN=token).status_code == 200
    assert decoder.calls == [token]


def test_a_remembered_token_is_refused_once_revoked_in_this_process(client, decoder):
    issued = services.issue_token(soeid="hank", issued_by="test")
    assert whoami(client, HTTP_X_API_TOKEN=issued.token).status_code == 200
    revoke_token(raw=issued.token)
    response = whoami(client, HTTP_X_API_TOKEN=issued.token)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


@pytest.mark.parametrize("part", [0, 1, 2], ids=["header", "payload", "signature"])
def test_a_token_one_character_away_from_a_remembered_one_is_not_matched(client, decoder, part):
    token = issue_token(soeid="ivan").token
    assert whoami(client, HTTP_X_API_TOKEN=token).status_code == 200
    other = one_char_changed(token, part)
    assert whoami(client, HTTP_X_API_TOKEN=other).status_code == 401
    assert decoder.calls == [token, other]


def test_a_remembered_token_is_refused_once_expired(client, decoder):
    """End to end, on the real clock: accepted (and remembered), then refused at its exp."""
    expires = int(time.time()) + 1
    token = forge(valid_claims(soeid="jane", jti=f"short-{time.monotonic_ns()}", exp=expires))
    assert whoami(client, HTTP_X_API_TOKEN=token).status_code == 200
    assert whoami(client, HTTP_X_API_TOKEN=token).status_code == 200
    time.sleep(max(0.0, expires - time.time()))  # waits for exp, not a time limit
    response = whoami(client, HTTP_X_API_TOKEN=token)
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_the_cache_answers_until_exp_and_asks_the_decoder_from_exp_on():
    """No leeway beyond the decoder's (0 here): at exp exactly, the decoder decides."""
    now = [1000.0]
    token = forge(valid_claims(soeid="kate", exp=int(time.time()) + 60))
    exp = decode_token(token)["exp"]
    decoder = Decoder()
    cache = VerifiedTokens(decoder, clock=lambda: now[0])
    cache.claims(token)
    now[0] = exp - 0.001
    cache.claims(token)
    assert len(decoder.calls) == 1
    now[0] = exp
    cache.claims(token)
    assert len(decoder.calls) == 2


def test_a_clock_stepped_back_sends_the_token_to_the_decoder_again():
    now = [1000.0]
    decoder = Decoder()
    cache = VerifiedTokens(decoder, clock=lambda: now[0])
    token = forge(valid_claims(soeid="liam"))
    cache.claims(token)
    now[0] = 999.0
    cache.claims(token)
    assert len(decoder.calls) == 2


def test_refusals_are_not_remembered():
    decoder = Decoder()
    cache = VerifiedTokens(decoder)
    forged = forge(valid_claims(soeid="mona"), key="not-our-key-" * 4)
    for _ in range(2):
        with pytest.raises(InvalidToken):
            cache.claims(forged)
    assert len(decoder.calls) == 2


def test_memory_is_bounded_and_the_oldest_goes_first():
    decoder = Decoder()
    cache = VerifiedTokens(decoder, max_tokens=3)
    tokens = [forge(valid_claims(soeid="nora", jti=f"j{n}")) for n in range(5)]
    for token in tokens:
        cache.claims(token)
    assert len(cache._verified) == 3
    cache.claims(tokens[-1])  # still remembered
    cache.claims(tokens[0])  # dropped: decoded again
    assert decoder.calls == [*tokens, tokens[0]]


def test_the_claims_given_out_are_a_copy():
    cache = VerifiedTokens(decode_token)
    token = forge(valid_claims(soeid="otto"))
    cache.claims(token)["soeid"] = "mallory"
    assert cache.claims(token)["soeid"] == "otto"


def test_a_change_of_the_jwt_settings_forgets_every_token(settings, decoder):
    token = issue_token(soeid="pia").token
    services.verify_token(token)
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT}
    services.verify_token(token)
    assert decoder.calls == [token, token]
