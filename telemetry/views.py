"""POST /telemetry: clients log their own events (the seed's manual telemetry)."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from dgen_ping_site.openapi import BODY_REFUSALS, error_responses
from telemetry import serializers
from telemetry.services import record_custom_event


class TelemetryView(APIView):
    @extend_schema(
        request=serializers.TelemetryEventInput,
        responses={
            200: serializers.TelemetryAcceptedOutput,
            **error_responses(400, 401, *BODY_REFUSALS, 429),
        },
        summary="Record a custom telemetry event",
        description="The event becomes this request's telemetry record. SOEID and client id "
        "come from the token (the body's are used only with the default token).",
    )
    def post(self, request):
        params = serializers.TelemetryEventInput(data=request.data)
        params.is_valid(raise_exception=True)
        accepted = record_custom_event(request, identity=request.user, data=params.validated_data)
        return Response(accepted)
