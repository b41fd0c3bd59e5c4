"""Project-wide request guards."""

from django.conf import settings
from django.http import JsonResponse

from dgen_ping_site.exceptions import error_body


class RequestBodyLimitMiddleware:
    """Answers 413 before any view reads a body larger than MAX_REQUEST_BODY_BYTES."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.MAX_REQUEST_BODY_BYTES

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("Invalid Content-Length.", "bad_request"), status=400)
        if length > self.limit:
            message = f"Request body is {length} bytes; the limit is {self.limit}."
            return JsonResponse(error_body(message, "request_too_large"), status=413)
        return self.get_response(request)
