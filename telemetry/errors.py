"""Errors of the telemetry app, each mapped to an HTTP status once, by DRF."""

from rest_framework import exceptions


class StoreUnavailable(exceptions.APIException):
    """The telemetry store could not be read (down, misconfigured, unreadable)."""

    status_code = 503
    default_detail = "The telemetry store is unavailable; try again later."
    default_code = "store_unavailable"
