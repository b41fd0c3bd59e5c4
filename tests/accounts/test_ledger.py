"""The ledger contract, on both ledgers (the database's and a real Redis): a reservation
adds to every counter or to none, limits hold, settling gives back."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from accounts.ledger.base import Entry
from accounts.ledger.database import DatabaseLedger
from accounts.ledger.redis import RedisLedger

END = datetime.now(UTC) + timedelta(days=1)
# Real transactions (not the test's savepoints), as the database ledger runs in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["database", "redis"])
def ledger(request):
    if request.param == "database":
        return DatabaseLedger()
    url = request.getfixturevalue("redis_url")
    ledger = RedisLedger(url)
    ledger._client.flushdb()
    return ledger


def entry(counter: str, tokens: int, nanos: int = 0, **limits) -> Entry:
    return Entry(counter, tokens, nanos, END, **limits)


def test_a_reservation_within_the_limits_is_added(ledger):
    assert ledger.reserve([entry("a", 10, 5, token_limit=100, nanos_limit=50)]) is None
    assert ledger.reserve([entry("a", 90, 45, token_limit=100, nanos_limit=50)]) is None
    assert ledger.totals(["a", "never"]) == {"a": (100, 50), "never": (0, 0)}


@pytest.mark.parametrize("limit", [{"token_limit": 100}, {"nanos_limit": 100}])
def test_a_reservation_past_a_limit_is_refused_and_adds_nothing(ledger, limit):
    assert ledger.reserve([entry("a", 60, 60, **limit)]) is None
    assert ledger.reserve([entry("a", 41, 41, **limit)]) == 0
    assert ledger.totals(["a"]) == {"a": (60, 60)}


def test_all_counters_or_none(ledger):
    roomy, tight = entry("roomy", 10, token_limit=1000), entry("tight", 10, token_limit=15)
    assert ledger.reserve([roomy, tight]) is None
    assert ledger.reserve([roomy, tight]) == 1
    assert ledger.totals(["roomy", "tight"]) == {"roomy": (10, 0), "tight": (10, 0)}


def test_an_amount_past_the_limit_alone_is_refused(ledger):
    assert ledger.reserve([entry("a", 101, token_limit=100)]) == 0
    # Past 64 bits no counter can hold it, limit or not (a max_tokens of 2**70, say).
    assert ledger.reserve([entry("a", 2**70, nanos_limit=100)]) == 0
    assert ledger.totals(["a"]) == {"a": (0, 0)}


def test_adjust_gives_back_without_checking_limits(ledger):
    ledger.reserve([entry("a", 100, 100, token_limit=100)])
    ledger.adjust(["a"], -70, -90)
    assert ledger.totals(["a"]) == {"a": (30, 10)}
    ledger.adjust(["a"], 500, 0)  # an answer that used more than reserved
    assert ledger.totals(["a"]) == {"a": (530, 10)}


def test_no_limit_means_counting_only(ledger):
    for _ in range(3):
        assert ledger.reserve([entry("a", 10**12, 10**12)]) is None
    assert ledger.totals(["a"]) == {"a": (3 * 10**12, 3 * 10**12)}


def test_concurrent_reservations_never_pass_the_limit(redis_url):
    """Threads racing on one Redis counter: exactly as many fit as the limit allows. (The
    database ledger's race runs across gunicorn workers: tests/governance/test_concurrency.)"""
    ledger = RedisLedger(redis_url)
    ledger._client.flushdb()
    with ThreadPoolExecutor(16) as pool:
        outcomes = list(
            pool.map(lambda _: ledger.reserve([entry("r", 7, token_limit=70)]), range(64))
        )
    assert outcomes.count(None) == 10
    assert ledger.totals(["r"]) == {"r": (70, 0)}
