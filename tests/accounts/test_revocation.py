"""The revocation check's cache (accounts.revocation): the registry is asked at most every
RECHECK_SECONDS per token and process; a revocation is refused at once in the process that
made it, and by any other within the bound (over HTTP against gunicorn's workers:
tests/security/test_jwt_attacks.py::test_a_revoked_token_is_refused_by_every_family)."""

import pytest
from django.db import connection

from accounts import services
from accounts.revocation import RECHECK_SECONDS, RevocationCache
from accounts.services import revoke_token
from accounts.tokens import issue_token
from tests.accounts.test_authentication import whoami

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]


class Registry:
    """What the token registry says, and how often it was asked."""

    def __init__(self):
        self.revoked: set[str] = set()
        self.asked = 0

    def __call__(self, jti: str) -> bool:
        self.asked += 1
        return jti in self.revoked


def test_the_bound_is_two_seconds_at_most():
    assert RECHECK_SECONDS <= 2.0


def test_a_revocation_elsewhere_is_seen_once_the_answer_is_recheck_seconds_old():
    now = [100.0]
    registry = Registry()
    cache = RevocationCache(registry, recheck=2.0, clock=lambda: now[0])
    assert cache.is_revoked("j1") is False
    registry.revoked.add("j1")  # another process revokes it, right after our query
    now[0] += 1.999
    assert cache.is_revoked("j1") is False and registry.asked == 1  # within the bound
    now[0] = 102.0
    assert cache.is_revoked("j1") is True and registry.asked == 2  # at the bound: asked again
    now[0] += 1000
    assert cache.is_revoked("j1") is True and registry.asked == 2  # revoked stays revoked


def test_the_answers_age_counts_from_before_the_query():
    """A query that takes long must not stretch the bound: its answer is as old as its start."""
    now = [0.0]

    def slow_registry(jti: str) -> bool:
        now[0] += 5.0  # the query itself takes 5 s
        return False

    cache = RevocationCache(slow_registry, recheck=2.0, clock=lambda: now[0])
    cache.is_revoked("j1")
    asked = []
    cache.lookup = lambda jti: asked.append(jti) or False
    cache.is_revoked("j1")  # 5 s after the query started: asked again
    assert asked == ["j1"]


def test_memory_is_bounded():
    cache = RevocationCache(Registry(), max_tokens=3)
    for n in range(10):
        cache.is_revoked(f"j{n}")
    assert len(cache._answers) <= 3


def test_a_token_revoked_in_this_process_is_refused_at_once(client):
    token = issue_token(soeid="dora").token
    assert whoami(client, HTTP_X_API_TOKEN=token).status_code == 200  # its answer is cached
    revoke_token(raw=token)
    response = whoami(client, HTTP_X_API_TOKEN=token)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_the_registry_is_asked_once_per_token_within_the_bound(client, django_assert_num_queries):
    token = issue_token(soeid="erin").token
    with django_assert_num_queries(1):
        for _ in range(5):
            assert whoami(client, HTTP_X_API_TOKEN=token).status_code == 200


def test_a_revocation_written_by_another_process_is_refused_after_the_bound(client, monkeypatch):
    """Written behind this process's back, as `revoke_token` in another process does."""
    issued = services.issue_token(soeid="fred", issued_by="test")
    assert whoami(client, HTTP_X_API_TOKEN=issued.token).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_tokenrecord SET revoked_at = CURRENT_TIMESTAMP WHERE jti = %s",
            [issued.jti],
        )
    assert whoami(client, HTTP_X_API_TOKEN=issued.token).status_code == 200  # cached
    later = services.revocations.clock() + RECHECK_SECONDS
    monkeypatch.setattr(services.revocations, "clock", lambda: later)
    assert whoami(client, HTTP_X_API_TOKEN=issued.token).status_code == 401
