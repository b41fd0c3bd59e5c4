"""One JSON error shape for the whole API: {"detail", "code"} (+ "fields" for bad input).

`detail` is the key FastAPI and DRF clients already read, so clients written for the original
(FastAPI) dgen-ping find the message where they expect it.
"""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.views import exception_handler


def error_body(detail: str, code: str, fields=None) -> dict:
    body = {"detail": detail, "code": code}
    if fields is not None:
        body["fields"] = fields
    return body


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
        response.data = error_body(str(detail), getattr(detail, "code", "error"))
    return response


@csrf_exempt  # also the catch-all route: a POST to an unknown path is a 404, not a CSRF 403
def not_found(request, exception=None, **kwargs):
    return JsonResponse(error_body(f"No endpoint at {request.path}.", "not_found"), status=404)


def server_error(request, *args, **kwargs):
    return JsonResponse(error_body("Internal server error.", "server_error"), status=500)


def bad_request(request, exception=None, **kwargs):
    return JsonResponse(error_body("Bad request.", "bad_request"), status=400)


def permission_denied(request, exception=None, **kwargs):
    return JsonResponse(error_body("Permission denied.", "permission_denied"), status=403)


def csrf_failure(request, reason=""):
    """Only session-authenticated browser requests (the admin) are CSRF-checked."""
    return JsonResponse(error_body(f"CSRF check failed: {reason}", "csrf_failed"), status=403)
