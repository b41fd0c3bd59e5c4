"""Project-wide request guards."""

from django.conf import settings
from django.http import JsonResponse

from dgen_ping_site.exceptions import error_body


class RequestBodyLimitMiddleware:
    """Answers 413 before any view reads a body larger than MAX_REQUEST_BODY_BYTES, and 411
    to a body sent without a Content-Length (chunked), which Django would read as empty."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.MAX_REQUEST_BODY_BYTES

    def __call__(self, request):
        meta = request.META
        if "HTTP_TRANSFER_ENCODING" in meta and not meta.get("CONTENT_LENGTH"):
            message = "Send the body with a Content-Length header; chunked bodies are refused."
            return JsonResponse(error_body(message, "length_required"), status=411)
        try:
            length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("Invalid Content-Length.", "bad_request"), status=400)
        if length > self.limit:
            message = f"Request body is {length} bytes; the limit is {self.limit}."
            return JsonResponse(error_body(message, "request_too_large"), status=413)
        return self.get_response(request)
