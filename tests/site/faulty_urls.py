"""The project's URLs, plus failures Django's own error handling does not see: a signal
receiver that raises before any middleware runs, and streamed bodies that fail."""

from django.core.signals import request_started
from django.dispatch import receiver
from django.http import StreamingHttpResponse
from django.urls import include, path


@receiver(request_started)
def fail_outside_the_views(sender, environ, **kwargs):
    if environ.get("HTTP_X_FAIL") == "outside":
        raise RuntimeError("a bug outside the views")


def stream_failing_at_once(request):
    def chunks():
        raise RuntimeError("a bug before the first chunk")
        yield b""  # a generator

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def events_failing_midway(request):
    def chunks():
        yield b'data: {"n": 1}\n\n'
        raise RuntimeError("a bug after the first event")

    return StreamingHttpResponse(chunks(), content_type="text/event-stream")


urlpatterns = [
    path("fail/stream", stream_failing_at_once),
    path("fail/events", events_failing_midway),
    path("", include("dgen_ping_site.urls")),
]
handler404 = "dgen_ping_site.exceptions.not_found"
handler500 = "dgen_ping_site.exceptions.server_error"
