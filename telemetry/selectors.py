"""Reads over telemetry storage."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from telemetry.writer import get_writer


def storage_health() -> dict:
    """Backend name and live status of telemetry storage, as /health reports it.

    No I/O: the status is what this process's writer last saw. `status` is "connected",
    "backup" (Mongo on a backup URI), "csv_fallback", "unavailable" (events wait in the
    spool), "starting", or "misconfigured"; `spooled` counts this process's events not
    stored yet.
    """
    try:
        status = get_writer().status()
    except ImproperlyConfigured as exc:
        status = {"status": "misconfigured", "last_error": str(exc)}
    return {"backend": settings.TELEMETRY_BACKEND, **status}
