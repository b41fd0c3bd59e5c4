"""How views add to the telemetry event of their own request: one request, one event.

The telemetry middleware builds the event when the response is done (for a streamed
response, when the stream ends or the client goes away), merging what views annotated.
"""

TELEMETRY_FIELDS_ATTR = "_telemetry_fields"


def _django_request(request):
    # DRF wraps Django's HttpRequest; the middleware only sees the inner one.
    return getattr(request, "_request", request)


def annotate(request, **fields) -> None:
    """Set event fields (see telemetry.schema) for this request; later calls win."""
    inner = _django_request(request)
    current = getattr(inner, TELEMETRY_FIELDS_ATTR, None)
    if current is None:
        current = {}
        setattr(inner, TELEMETRY_FIELDS_ATTR, current)
    current.update(fields)


def annotations(request) -> dict:
    """Everything views annotated on this request so far."""
    return getattr(_django_request(request), TELEMETRY_FIELDS_ATTR, {})
