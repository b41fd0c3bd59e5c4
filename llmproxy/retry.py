"""Retrying one route's upstream call: exponential backoff with jitter, honouring Retry-After."""

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

from llmproxy.errors import UpstreamError, describe

logger = logging.getLogger(__name__)
T = TypeVar("T")


def with_retries(
    attempt: Callable[[], T],
    *,
    retries: int,
    backoff: float,
    route: str,
) -> T:
    """attempt(), tried again up to `retries` times while it fails with a retryable error."""
    for number in range(retries + 1):
        try:
            return attempt()
        except UpstreamError as exc:
            wait = retry_wait(exc, number, backoff) if number < retries else None
            if wait is None:
                raise
            notice = "LLM route %s attempt %d failed, retrying in %.2f s: %s"
            logger.warning(notice, route, number + 1, wait, describe(exc))
            time.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


def retry_wait(exc: UpstreamError, number: int, backoff: float) -> float | None:
    """Seconds to wait before retry `number + 1`, or None when retrying makes no sense."""
    if not exc.retryable:
        return None
    cap = settings.LLM["MAX_RETRY_WAIT"]
    if exc.retry_after is not None:
        # Asked to come back later than we are willing to hold the caller: give up (and
        # let a fallback or the caller's own Retry-After handling take over).
        return exc.retry_after if exc.retry_after <= cap else None
    # Exponential, with jitter so that many waiting requests do not retry in lockstep.
    return min(cap, backoff * 2**number) * random.uniform(0.5, 1.0)
