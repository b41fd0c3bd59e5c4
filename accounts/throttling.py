"""Per-SOEID rate limit (settings.RATE_LIMIT requests a minute), counted in Django's cache."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


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
