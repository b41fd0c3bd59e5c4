"""GET /api/schema/: the OpenAPI document, built once per process; a file for tools, a page
for people.

Generating it costs 25-100 ms of CPU (drf-spectacular walks every view and serializer) and
rendering it as YAML another ~10 ms, while /api/schema/ is public and unthrottled: built per
request, it would be the cheapest way to keep the gateway's CPUs busy. The document depends
only on the code and the settings, which do not change in a running process; tests that
change settings clear it through Django's setting_changed signal.
"""

import threading

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse
from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer
from rest_framework.response import Response

# The generated document, and each rendering of it by renderer class: four at most, whatever
# Accept headers clients write.
_generated: list[dict] = []
_rendered: dict[type, tuple[bytes, str]] = {}
_lock = threading.Lock()


class SchemaPage(BrowsableAPIRenderer):
    """The browsable API's page around the document's YAML, as rendered once for tools (the
    page itself is drawn per request: it shows who is asking)."""

    def get_content(self, renderer, data, accepted_media_type, renderer_context):
        return rendering(renderer, data)[0].decode()


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3.1 description of this API, shown here as YAML.

    Tools get it as a file: YAML by default, JSON with ?format=json (?format=yaml for YAML).
    Swagger UI (/docs) and ReDoc (/redoc) present it for people.
    """

    name = "OpenAPI schema"
    # A browser asks for text/html before anything else and gets this page; clients that
    # accept anything (curl, SDK generators, schemathesis) still get the YAML file.
    renderer_classes = [*SpectacularAPIView.renderer_classes, SchemaPage]

    def _get_version_parameter(self, request):
        # One API version: ?version= must not be a way to make documents to build and keep.
        return None

    def _get_schema_response(self, request):
        data = self._document(request)
        renderer = request.accepted_renderer
        if isinstance(renderer, SchemaPage):
            return Response(data)  # a page to show, not a file to save
        content, content_type = rendering(renderer, data)
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'inline; filename="{self._get_filename(request, None)}"'
        return response

    def _document(self, request) -> dict:
        with _lock:  # one build, however many requests arrive at start
            if not _generated:
                _generated.append(super()._get_schema_response(request).data)
            return _generated[0]


def rendering(renderer: BaseRenderer, data: dict) -> tuple[bytes, str]:
    """The document as `renderer` renders it, and its content type: once per renderer."""
    with _lock:
        if type(renderer) not in _rendered:
            content_type = renderer.media_type
            if renderer.charset:
                content_type = f"{content_type}; charset={renderer.charset}"
            content = renderer.render(data, renderer.media_type, {})
            _rendered[type(renderer)] = content, content_type
        return _rendered[type(renderer)]


@receiver(setting_changed)
def _forget_documents(**kwargs) -> None:
    with _lock:
        _generated.clear()
        _rendered.clear()
