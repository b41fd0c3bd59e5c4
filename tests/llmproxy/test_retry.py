"""Retry policy: which failures are retried, and how long to wait between attempts."""

import pytest

from llmproxy.errors import UpstreamRateLimited, UpstreamRejected, UpstreamUnavailable
from llmproxy.retry import retry_wait, with_retries


def test_non_retryable_failures_are_not_retried():
    assert retry_wait(UpstreamRejected("bad"), 0, backoff=1.0) is None


@pytest.mark.parametrize("number", [0, 1, 2])
def test_backoff_is_exponential_with_jitter(settings, number):
    settings.LLM = {**settings.LLM, "MAX_RETRY_WAIT": 100.0}
    waits = {retry_wait(UpstreamUnavailable("down"), number, backoff=0.5) for _ in range(50)}
    base = 0.5 * 2**number
    assert all(base / 2 <= wait <= base for wait in waits)
    assert len(waits) > 1  # jittered


def test_backoff_is_capped(settings):
    settings.LLM = {**settings.LLM, "MAX_RETRY_WAIT": 1.0}
    assert retry_wait(UpstreamUnavailable("down"), 10, backoff=0.5) <= 1.0


def test_retry_after_is_honoured_up_to_the_cap(settings):
    settings.LLM = {**settings.LLM, "MAX_RETRY_WAIT": 5.0}
    assert retry_wait(UpstreamRateLimited("slow", retry_after=3.0), 0, backoff=0.1) == 3.0
    assert retry_wait(UpstreamRateLimited("slow", retry_after=6.0), 0, backoff=0.1) is None


def test_attempts_stop_after_the_configured_retries(settings):
    settings.LLM = {**settings.LLM, "MAX_RETRY_WAIT": 0.0}
    attempts = []

    def failing():
        attempts.append(1)
        raise UpstreamUnavailable("down")

    with pytest.raises(UpstreamUnavailable):
        with_retries(failing, retries=2, backoff=0.0, route="r")
    assert len(attempts) == 3


def test_success_after_a_failure_returns_the_result(settings):
    outcomes = iter([UpstreamUnavailable("down"), "answer"])

    def flaky():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert with_retries(flaky, retries=1, backoff=0.0, route="r") == "answer"
