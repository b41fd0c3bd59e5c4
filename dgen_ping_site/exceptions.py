"""One JSON error shape for the whole API: {"detail", "code"} (+ "fields" for bad input).

`detail` is the key FastAPI and DRF clients already read, so clients written for the original
(FastAPI) dgen-ping find the message where they expect it. Every error answered here also
becomes the `error` of the request's telemetry event, as readable text (error_text), never a
Python repr.
"""

from collections.abc import Iterator

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from telemetry.context import annotate

SEND_JSON = "Send a JSON body with Content-Type: application/json."


def error_body(detail: str, code: str, fields=None) -> dict:
    body = {"detail": detail, "code": code}
    if fields is not None:
        body["fields"] = fields
    return body


def field_errors(detail, path: tuple = ()) -> Iterator[tuple[str, str]]:
    """(dotted field path, message) for every message in DRF's nested error detail, in
    order: `{"messages": [{"content": ["Required."]}]}` gives ("messages.0.content",
    "Required."). Errors of the whole input (non_field_errors) have the parent's path."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = path if key == api_settings.NON_FIELD_ERRORS_KEY else (*path, str(key))
            yield from field_errors(value, inner)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            # A list of messages is one field's; a list of objects is indexed.
            inner = (*path, str(index)) if isinstance(value, dict) else path
            yield from field_errors(value, inner)
    else:
        yield ".".join(path), str(detail)


def fields_text(detail) -> str:
    """DRF's nested error detail as one line: `field: message; other.field: message`."""
    errors = field_errors(detail)
    return "; ".join(f"{path}: {message}" if path else message for path, message in errors)


def error_text(body: dict) -> str:
    """An error body as one line of text: `code: detail`, or for bad input
    `invalid: field: message; other.field: message`. The one form of an error in events,
    logs and configuration errors."""
    if body.get("fields"):
        return f"{body['code']}: {fields_text(body['fields'])}"
    return f"{body['code']}: {body['detail']}"


def json_error(request, detail: str, code: str, status: int, fields=None) -> JsonResponse:
    """The error answer outside DRF's views, recorded on the request's event."""
    body = error_body(detail, code, fields)
    annotate(request, error=error_text(body))
    return JsonResponse(body, status=status)


def json_exception_handler(exc, context):
    """DRF's handler (status, Retry-After, WWW-Authenticate) with our body shape."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body("Invalid input.", "invalid", fields)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        response.data = error_body(_message(exc, str(detail)), getattr(detail, "code", "error"))
    annotate(context["request"], error=error_text(response.data))
    return response


def _message(exc, detail: str) -> str:
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return f"{detail} {SEND_JSON}"
    return detail


@csrf_exempt  # also the catch-all route: a POST to an unknown path is a 404, not a CSRF 403
def not_found(request, exception=None, **kwargs):
    return json_error(request, f"No endpoint at {request.path}.", "not_found", 404)


def server_error(request, *args, **kwargs):
    return json_error(request, "Internal server error.", "server_error", 500)


def bad_request(request, exception=None, **kwargs):
    return json_error(request, "Bad request.", "bad_request", 400)


def permission_denied(request, exception=None, **kwargs):
    return json_error(request, "Permission denied.", "permission_denied", 403)


def csrf_failure(request, reason=""):
    """Only session-authenticated browser requests (the admin) are CSRF-checked."""
    return json_error(request, f"CSRF check failed: {reason}", "csrf_failed", 403)
