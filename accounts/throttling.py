"""Per-SOEID rate limits, counted in Django's cache: requests a minute (settings.RATE_LIMIT,
a DRF throttle) and tokens a minute (settings.TOKEN_RATE_LIMIT, reserved and settled around
each LLM call). Each records what it counted on the request, for OpenAI's x-ratelimit-*
response headers (llmproxy.metering)."""

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle

from accounts.errors import WORST_CASE
from accounts.periods import now, seconds_until, window

logger = logging.getLogger(__name__)
# At most one warning this often while the cache is down, not one per request.
WARNING_INTERVAL = 60.0
_last_warning: float | None = None
LIMITS_ATTR = "_rate_limits"


@dataclass
class Window:
    """What a limit allows, what is left of it, and seconds until it is whole again."""

    limit: int
    remaining: int
    reset: float


def noted(request) -> dict[str, Window]:
    """The limits counted for this request so far: "requests" and/or "tokens"."""
    return getattr(getattr(request, "_request", request), LIMITS_ATTR, {})


def _note(request, kind: str, state: Window) -> None:
    inner = getattr(request, "_request", request)
    if not hasattr(inner, LIMITS_ATTR):
        setattr(inner, LIMITS_ATTR, {})
    getattr(inner, LIMITS_ATTR)[kind] = state


class SoeidRateThrottle(SimpleRateThrottle):
    scope = "soeid"

    def get_rate(self) -> str | None:
        # Read per request rather than from DRF's import-time table, so tests and
        # reconfiguration see the current value; None turns the limit off.
        return f"{settings.RATE_LIMIT}/min" if settings.RATE_LIMIT else None

    def get_cache_key(self, request, view):
        user = request.user
        ident = user.soeid if getattr(user, "soeid", None) else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        """DRF's check; when the cache cannot be reached, the request is let through.

        A shared cache (Redis) going away must not turn every call into a 500: the limit
        protects against a runaway client, the gateway must keep serving the others.
        """
        try:
            allowed = super().allow_request(request, view)
        except Exception as exc:  # each cache backend raises its own driver's errors
            cache_unavailable(exc)
            return True
        if self.rate is not None:
            _note(request, "requests", self._window())
        return allowed

    def _window(self) -> Window:
        # history: this SOEID's request times in the sliding minute, newest first. The limit
        # is whole again when the newest of them leaves the minute.
        reset = self.duration - (self.now - self.history[0]) if self.history else 0.0
        return Window(self.num_requests, max(0, self.num_requests - len(self.history)), reset)


@dataclass
class TokenReservation:
    """Tokens held on a SOEID's minute until the call settles."""

    key: str
    tokens: int
    settled: bool = False


def reserve_tokens(request, *, soeid: str, tokens: int) -> TokenReservation | None:
    """Count a call's worst case against its SOEID's tokens per minute (a fixed UTC minute);
    Throttled (429, Retry-After) when it does not fit. None when the limit is off or the
    cache is unavailable (let through, as for requests a minute)."""
    limit = settings.TOKEN_RATE_LIMIT
    if not limit:
        return None
    moment = now()
    key, end = _minute(soeid, moment)
    try:
        cache.add(key, 0, timeout=120)
        used = cache.incr(key, tokens)
        if used > limit:
            cache.decr(key, tokens)
    except Exception as exc:  # each cache backend raises its own driver's errors
        cache_unavailable(exc)
        return None
    wait = seconds_until(end, moment)
    if used > limit:
        _note(request, "tokens", Window(limit, max(0, limit - used + tokens), wait))
        raise Throttled(
            wait,
            f"Token rate limit: this call may use up to {tokens} tokens ({WORST_CASE}), "
            f"more than is left of {limit} tokens a minute.",
        )
    _note(request, "tokens", Window(limit, limit - used, (end - moment).total_seconds()))
    return TokenReservation(key, tokens)


def note_tokens(request, *, soeid: str) -> None:
    """Record the SOEID's tokens per minute for the headers of an answer that reserved none."""
    limit = settings.TOKEN_RATE_LIMIT
    if not limit or "tokens" in noted(request):
        return
    moment = now()
    key, end = _minute(soeid, moment)
    try:
        used = cache.get(key, 0)
    except Exception as exc:
        cache_unavailable(exc)
        return
    _note(request, "tokens", Window(limit, max(0, limit - used), (end - moment).total_seconds()))


def _minute(soeid: str, moment) -> tuple[str, object]:
    """The cache key of `soeid`'s tokens in the UTC minute of `moment`, and its end."""
    start, end = window("minute", moment)
    return f"throttle_tokens_{soeid}_{int(start.timestamp())}", end


def settle_tokens(request, reservation: TokenReservation | None, tokens: int) -> None:
    """Replace the worst case by the tokens the call used (0: none). Once."""
    if reservation is None or reservation.settled:
        return
    reservation.settled = True
    delta = tokens - reservation.tokens
    try:
        used = cache.incr(reservation.key, delta) if delta else None
    except ValueError:  # the minute's counter is gone: nothing left to correct
        return
    except Exception as exc:
        cache_unavailable(exc)
        return
    state = noted(request).get("tokens")
    if state is not None and used is not None:
        state.remaining = max(0, state.limit - used)


def cache_unavailable(exc: Exception) -> None:
    global _last_warning
    monotonic = time.monotonic()
    if _last_warning is None or monotonic - _last_warning >= WARNING_INTERVAL:
        _last_warning = monotonic
        logger.warning(
            "Rate limit not applied: the cache is unavailable (%s). Requests go through "
            "unlimited until it is back.",
            type(exc).__name__,
        )


def reset_text(seconds: float) -> str:
    """A duration as OpenAI's reset headers write it: '17ms', '6s', '1m30s'."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    whole = math.ceil(seconds)
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"
