"""Service-level endpoints: what this is, what its API is, and whether it is well."""

from functools import cache

from django.conf import settings
from drf_spectacular.generators import EndpointEnumerator
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from dgen_ping_site.clock import iso_utc
from telemetry.selectors import storage_health

HEALTHY_STORAGE = {"connected"}


class PublicView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []


class ServiceInfoView(PublicView):
    @extend_schema(
        responses=inline_serializer(
            "ServiceInfo",
            {
                "service": serializers.CharField(),
                "version": serializers.CharField(),
                "docs": serializers.CharField(),
                "endpoints": serializers.ListField(child=serializers.CharField()),
            },
        ),
        summary="Service information",
    )
    def get(self, request):
        return Response(
            {
                "service": "dgen-ping",
                "version": settings.VERSION,
                "docs": "/docs",
                "endpoints": list(endpoint_paths()),
            }
        )


@cache  # the URLconf is fixed for the life of the process
def endpoint_paths() -> tuple[str, ...]:
    """Every path the API answers, read from the URLconf the way the schema generator reads
    it, so the list on `/` cannot fall behind the endpoints."""
    endpoints = EndpointEnumerator().get_api_endpoints()
    return tuple(dict.fromkeys(path for path, _regex, _method, _view in endpoints))


class HealthView(PublicView):
    @extend_schema(
        responses=inline_serializer(
            "Health",
            {
                "status": serializers.ChoiceField(["healthy", "degraded"]),
                "timestamp": serializers.CharField(),
                "version": serializers.CharField(),
                "database": serializers.DictField(),
            },
        ),
        summary="Liveness and telemetry storage status",
        description="Always 200 while the gateway serves: a telemetry outage only makes it "
        "'degraded', so load balancers keep a working gateway in rotation.",
    )
    def get(self, request):
        database = storage_health()
        status = "healthy" if database["status"] in HEALTHY_STORAGE else "degraded"
        return Response(
            {
                "status": status,
                "timestamp": iso_utc(),
                "version": settings.VERSION,
                "database": database,
            }
        )


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 description of this API, shown here as YAML.

    Tools get it as a file: YAML by default, JSON with ?format=json (?format=yaml for YAML).
    Swagger UI (/docs) and ReDoc (/redoc) present it for people.
    """

    name = "OpenAPI schema"
    # A browser asks for text/html before anything else and gets this page; clients that
    # accept anything (curl, SDK generators, schemathesis) still get the YAML file.
    renderer_classes = [*SpectacularAPIView.renderer_classes, BrowsableAPIRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(getattr(request, "accepted_renderer", None), BrowsableAPIRenderer):
            del response["Content-Disposition"]  # a page, not a file to save
        return response
