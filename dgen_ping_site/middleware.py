"""Project-wide request guards, and the admin's own middleware."""

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware

from dgen_ping_site.exceptions import json_error
from dgen_ping_site.safety import local_provider_models

# The admin's pages, and the usage reports a signed-in staff user may read (telemetry.urls,
# the dashboard).
SESSION_PATHS = ("/admin/", "/api/telemetry/", "/dashboard/")
LOCAL_PROVIDER_HEADER = "X-Local-Provider"


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
            return json_error(request, message, "length_required", 411)
        try:
            length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(request, "Invalid Content-Length.", "bad_request", 400)
        if length > self.limit:
            message = f"Request body is {length} bytes; the limit is {self.limit}."
            return json_error(request, message, "request_too_large", 413)
        return self.get_response(request)


class LocalProviderNoticeMiddleware:
    """While models are answered by the local development provider, every answer says so in
    LOCAL_PROVIDER_HEADER, naming them: its LLM answers are not from a real model."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        models = local_provider_models()
        if models:
            response[LOCAL_PROVIDER_HEADER] = ", ".join(models)
        return response


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
