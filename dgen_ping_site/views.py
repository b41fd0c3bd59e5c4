"""Service-level endpoints: what this is, what its API is, and whether it is well."""

from functools import cache

from django.conf import settings
from drf_spectacular.generators import EndpointEnumerator
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from dgen_ping_site.clock import iso_utc
from dgen_ping_site.safety import local_provider_models
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
                "local_provider": serializers.ListField(
                    child=serializers.CharField(),
                    help_text="Models answered by the local development provider, not a "
                    "real model (ALLOW_LOCAL_PROVIDER); empty when every model is real.",
                ),
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
                "local_provider": local_provider_models(),
            }
        )
