"""GET /api/schema/: the OpenAPI document, built once per process and format.

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

# The generated document (its data and Content-Disposition), and each rendering of it by
# renderer class: four at most, whatever Accept headers clients write.
_generated: list = []
_rendered: dict[type, tuple[bytes, str]] = {}
_lock = threading.Lock()


class SchemaView(SpectacularAPIView):
    def _get_version_parameter(self, request):
        # One API version: ?version= must not be a way to make documents to build and keep.
        return None

    def _get_schema_response(self, request):
        renderer = request.accepted_renderer
        with _lock:  # one build, however many requests arrive at start
            if not _generated:
                response = super()._get_schema_response(request)
                _generated[:] = [response.data, response["Content-Disposition"]]
            if type(renderer) not in _rendered:
                _rendered[type(renderer)] = _render(renderer, _generated[0])
        content, content_type = _rendered[type(renderer)]
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = _generated[1]
        return response


def _render(renderer, data: dict) -> tuple[bytes, str]:
    content_type = renderer.media_type
    if renderer.charset:
        content_type = f"{content_type}; charset={renderer.charset}"
    return renderer.render(data, renderer.media_type, {}), content_type


@receiver(setting_changed)
def _forget_documents(**kwargs) -> None:
    with _lock:
        _generated.clear()
        _rendered.clear()
