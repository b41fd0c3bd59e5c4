"""GET /metrics: what Prometheus scrapes (docs/metrics.md).

A plain Django view, not a DRF one: Prometheus' text is not JSON, the gateway's JWT
authentication and per-SOEID rate limits do not apply to it (telemetry.metrics.access
does), and it stays out of the OpenAPI schema and so out of the API fuzzing. It is not
recorded as a telemetry event either (TELEMETRY_EXCLUDED_PATHS has /metrics).
"""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from dgen_ping_site.exceptions import error_body
from telemetry.metrics import access, exposition

READ_METHODS = ("GET", "HEAD")


@csrf_exempt  # nothing to forge: whatever the method, it changes nothing
def metrics(request):
    refused = access.refusal(request)
    if refused is not None:
        return refused
    if request.method not in READ_METHODS:
        detail = f"Method {request.method} not allowed: /metrics answers GET."
        response = JsonResponse(error_body(detail, "method_not_allowed"), status=405)
        response["Allow"] = ", ".join(READ_METHODS)
        return response
    body, content_type = exposition.scrape(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
