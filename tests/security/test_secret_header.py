"""X-Token-Secret is compared in constant time, shown by structure rather than by a clock.

Timing a comparison on a shared 2-core machine proves nothing either way. Instead: every
request to an administrators' endpoint makes exactly one hmac.compare_digest call with what
was sent and the configured secret, whatever the lengths (a length check first would leak
the length and skip the call), and that call alone decides: make it lie and the answer
follows it. And the secret is read in one place only, so no other path compares it.
"""

import hmac
import re
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

ADMIN_ENDPOINTS = {"/generate-token": {"soeid": "alice"}, "/verify-token": {"token": "x"}}
APP_PACKAGES = ("accounts", "llmproxy", "telemetry", "dgen_ping_site")
ROOT = Path(__file__).resolve().parents[2]


def sent_secrets() -> dict[str, str | None]:
    secret = settings.TOKEN_SECRET
    return {
        "right": secret,
        "wrong-same-length": secret[:-1] + ("x" if secret[-1] != "x" else "y"),
        "right-prefix": secret[:-1],
        "right-plus-one": secret + "x",
        "first-byte-only": secret[0],
        "empty": "",
        "missing": None,
        "non-ascii": "é" * len(secret),
    }


class Spy:
    """hmac.compare_digest, recording the calls that involve the token secret; `verdict`
    (when set) replaces the real answer for those calls."""

    def __init__(self, real):
        self.real, self.calls, self.verdict = real, [], None

    def __call__(self, a, b):
        secret = settings.TOKEN_SECRET.encode()
        if secret not in (a, b):
            return self.real(a, b)
        self.calls.append((a, b))
        return self.real(a, b) if self.verdict is None else self.verdict


@pytest.fixture
def spy(monkeypatch) -> Spy:
    spy = Spy(hmac.compare_digest)
    monkeypatch.setattr(hmac, "compare_digest", spy)
    return spy


def call(client, path: str, sent: str | None):
    headers = {} if sent is None else {"HTTP_X_TOKEN_SECRET": sent}
    return client.post(path, ADMIN_ENDPOINTS[path], content_type="application/json", **headers)


@pytest.mark.parametrize("path", ADMIN_ENDPOINTS)
@pytest.mark.parametrize("name", sent_secrets())
def test_one_constant_time_comparison_decides_every_request(client, spy, path, name):
    sent = sent_secrets()[name]
    is_right = sent == settings.TOKEN_SECRET

    assert call(client, path, sent).status_code == (200 if is_right else 403)
    assert spy.calls == [((sent or "").encode(), settings.TOKEN_SECRET.encode())]

    spy.verdict = not is_right  # the comparison lies: the answer must follow it
    assert call(client, path, sent).status_code == (403 if is_right else 200)
    assert len(spy.calls) == 2


def test_the_token_secret_is_read_in_one_place_only():
    readers = {
        str(path.relative_to(ROOT))
        for package in APP_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"\bTOKEN_SECRET\b", path.read_text())
    }
    assert readers == {"accounts/permissions.py", "dgen_ping_site/settings.py"}
