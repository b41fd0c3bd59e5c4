"""The project's URLs plus views that exist only to exercise the telemetry middleware."""

from django.http import StreamingHttpResponse
from django.urls import include, path

from telemetry.context import annotate


def stream(request):
    def chunks():
        try:
            for n in range(3):
                yield f"chunk {n}\n".encode()
        finally:
            # Like an LLM view: usage is known only when the stream is over (or abandoned).
            annotate(request, model="stream-model", total_tokens=42)

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def boom(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [
    path("stream", stream),
    path("boom", boom),
    path("", include("dgen_ping_site.urls")),
]
handler500 = "dgen_ping_site.exceptions.server_error"
