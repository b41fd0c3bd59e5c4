"""Project-wide request guards, and the admin's own middleware."""

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import JsonResponse

from dgen_ping_site.exceptions import error_body

# The admin's pages, and the usage reports a signed-in staff user may read (telemetry.urls,
# the dashboard).
SESSION_PATHS = ("/admin/", "/api/telemetry/", "/dashboard/")


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


class AdminOnly:
    """Middleware only browser sessions use: every other request goes straight past it.

    Sessions, Django users and messages serve the admin and the staff-session reports;
    the rest of the API is authenticated by tokens, so it skips all three. The classes stay
    in MIDDLEWARE as subclasses of Django's, where the admin's system checks look for them.
    """

    def __call__(self, request):
        if request.path_info.startswith(SESSION_PATHS):
            return super().__call__(request)
        return self.get_response(request)


class AdminSessionMiddleware(AdminOnly, SessionMiddleware):
    pass


class AdminAuthenticationMiddleware(AdminOnly, AuthenticationMiddleware):
    pass


class AdminMessageMiddleware(AdminOnly, MessageMiddleware):
    pass
