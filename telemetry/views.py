"""POST /telemetry (custom events) and the usage reports under /api/telemetry/."""

from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import GatewayTokenAuthentication
from accounts.permissions import TOKEN_SECRET_AUTH
from dgen_ping_site.openapi import BODY_REFUSALS, error_responses
from dgen_ping_site.serializers import validated_query
from telemetry import serializers
from telemetry.permissions import IsTelemetryAdmin
from telemetry.selectors import recent_events, reporting_backend, usage_report
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


# --- Reporting ------------------------------------------------------------------------------

ADMIN_AUTH = [*TOKEN_SECRET_AUTH, {"cookieAuth": []}]
ADMIN_REFUSALS = error_responses(400, 401, 403, 503)


class AdminReportView(APIView):
    """Reports on everyone's usage: X-Token-Secret or a staff session (IsTelemetryAdmin)."""

    # The session first, so a signed-in staff user is recognised even when the development
    # default token would otherwise make a token-less request default_user.
    authentication_classes = [SessionAuthentication, GatewayTokenAuthentication]
    permission_classes = [IsTelemetryAdmin]
    throttle_classes = []

    def get_authenticate_header(self, request) -> str:
        # No credentials at all is a 401 (DRF takes the header from the first class).
        return GatewayTokenAuthentication().authenticate_header(request)


class EventsView(AdminReportView):
    @extend_schema(
        parameters=[serializers.EventsInput],
        responses={200: serializers.EventsPageOutput, **ADMIN_REFUSALS},
        auth=ADMIN_AUTH,
        summary="List telemetry events, newest first",
        description="Filters combine; `since` is inclusive and `until` exclusive. Follow "
        "`next` (or pass `next_cursor` as `cursor`) for older events.",
    )
    def get(self, request):
        data = validated_query(request, serializers.EventsInput)
        events, more = recent_events(
            backend=reporting_backend(),
            filters=serializers.event_filter(data),
            before=data.get("cursor"),
            limit=data["page_size"],
        )
        cursor = serializers.encode_cursor(more) if more else None
        return Response(
            {"results": events, "next_cursor": cursor, "next": _page_url(request, cursor)}
        )


class UsageView(AdminReportView):
    @extend_schema(
        parameters=[serializers.UsageInput],
        responses={200: serializers.UsageReportOutput, **ADMIN_REFUSALS},
        auth=ADMIN_AUTH,
        summary="Usage per SOEID, project, model, day, event type or token",
        description="Requests, errors, tokens, cost (USD) and p50/p95 latency per group.",
    )
    def get(self, request):
        return Response(_usage(validated_query(request, serializers.UsageInput)))


class MyUsageView(APIView):
    @extend_schema(
        parameters=[serializers.MyUsageInput],
        responses={200: serializers.UsageReportOutput, **error_responses(400, 401, 429, 503)},
        summary="Your own usage",
        description="As /api/telemetry/usage, for the token's SOEID only.",
    )
    def get(self, request):
        data = validated_query(request, serializers.MyUsageInput)
        return Response(_usage(data, soeid=request.user.soeid))


def _usage(data: dict, **fixed) -> dict:
    return usage_report(
        backend=reporting_backend(),
        group_by=data.get("group_by") or (),
        filters=serializers.event_filter(data, **fixed),
    )


def _page_url(request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    query = request.query_params.copy()
    query["cursor"] = cursor
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
