"""Per-SOEID rate limit (settings.RATE_LIMIT requests a minute), counted in Django's cache."""

import logging
import time

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)
# At most one warning this often while the cache is down, not one per request.
WARNING_INTERVAL = 60.0
_last_warning: float | None = None


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
            return super().allow_request(request, view)
        except Exception as exc:  # each cache backend raises its own driver's errors
            cache_unavailable(exc)
            return True


def cache_unavailable(exc: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if _last_warning is None or now - _last_warning >= WARNING_INTERVAL:
        _last_warning = now
        logger.warning(
            "Rate limit not applied: the cache is unavailable (%s). Requests go through "
            "unlimited until it is back.",
            type(exc).__name__,
        )
