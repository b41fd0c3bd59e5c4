"""The token endpoints, for administrators holding the token secret."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import serializers
from accounts.errors import InvalidToken
from accounts.models import Budget
from accounts.permissions import TOKEN_SECRET_AUTH, HasTokenSecret
from accounts.selectors import budget_statuses, registered_tokens
from accounts.services import describe_token, issue_token, remove_budget, set_budget
from dgen_ping_site.clock import iso_utc
from dgen_ping_site.openapi import BODY_REFUSALS, error_responses
from dgen_ping_site.serializers import validated_query
from telemetry.middleware import client_ip

ADMIN_ERRORS = error_responses(400, 403, *BODY_REFUSALS)


class TokenSecretView(APIView):
    """Base for endpoints guarded by X-Token-Secret instead of a user token."""

    authentication_classes = []
    permission_classes = [HasTokenSecret]
    throttle_classes = []

    def initial(self, request, *args, **kwargs):
        # A method the endpoint does not have is 405 for everyone, as elsewhere: checked
        # before the secret, which would otherwise answer 403 first.
        if request.method not in self.allowed_methods:
            self.http_method_not_allowed(request)
        super().initial(request, *args, **kwargs)


class GenerateTokenView(TokenSecretView):
    @extend_schema(
        request=serializers.GenerateTokenInput,
        responses={200: serializers.GenerateTokenOutput, **ADMIN_ERRORS},
        auth=TOKEN_SECRET_AUTH,
        summary="Issue a JWT for a SOEID",
        description="The token is recorded in the registry (GET /api/tokens), never stored.",
    )
    def post(self, request):
        params = serializers.GenerateTokenInput(data=request.data)
        params.is_valid(raise_exception=True)
        issuer = f"api:{client_ip(request.META) or 'unknown'}"
        issued = issue_token(**params.validated_data, issued_by=issuer)
        return Response(
            {
                "token": issued.token,
                "soeid": issued.soeid,
                "project_id": issued.project_id,
                "jti": issued.jti,
                "timestamp": iso_utc(issued.issued_at),
                "expires_at": iso_utc(issued.expires_at),
            }
        )


class VerifyTokenView(TokenSecretView):
    """Whether a token is valid, and whose it is."""

    @extend_schema(
        request=serializers.VerifyTokenInput,
        responses={200: serializers.VerifyTokenOutput, **ADMIN_ERRORS},
        auth=TOKEN_SECRET_AUTH,
        summary="Check a JWT and show who it belongs to",
    )
    def post(self, request):
        params = serializers.VerifyTokenInput(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            data = describe_token(params.validated_data["token"])
        except InvalidToken as exc:
            return Response({"valid": False, "error": str(exc.detail), "timestamp": iso_utc()})
        return Response({"valid": True, "data": data, "timestamp": iso_utc()})


class TokenListView(TokenSecretView):
    """The token registry."""

    @extend_schema(
        parameters=[serializers.TokenListInput],
        responses={200: serializers.TokenListOutput, **error_responses(400, 403)},
        auth=TOKEN_SECRET_AUTH,
        summary="List issued tokens (the registry), newest first",
        description="Every token issued by /generate-token, `manage.py issue_token` or the "
        "admin: who, which project, when issued and until when, by whom, whether revoked. "
        "Never the token itself. Page with `limit` and `offset`.",
    )
    def get(self, request):
        filters = dict(validated_query(request, serializers.TokenListInput))
        limit, offset = filters.pop("limit"), filters.pop("offset")
        rows = registered_tokens(**filters)
        page = serializers.TokenRecordOutput(rows[offset : offset + limit], many=True).data
        return Response({"count": rows.count(), "results": page})


# --- Budgets ----------------------------------------------------------------------------------

BUDGET_READ_ERRORS = error_responses(403, 503)


class BudgetListView(TokenSecretView):
    """Budgets per SOEID, per project and by default per SOEID: tokens and/or USD per UTC day,
    week or month (docs/governance.md)."""

    @extend_schema(
        responses={200: serializers.BudgetOutput(many=True), **BUDGET_READ_ERRORS},
        auth=TOKEN_SECRET_AUTH,
        summary="List budgets, with what each has spent this period",
    )
    def get(self, request):
        statuses = budget_statuses(Budget.objects.all())
        return Response(serializers.BudgetOutput(statuses, many=True).data)

    @extend_schema(
        request=serializers.BudgetInput,
        responses={
            200: serializers.BudgetOutput,
            201: serializers.BudgetOutput,
            **error_responses(400, 403, *BODY_REFUSALS, 503),
        },
        auth=TOKEN_SECRET_AUTH,
        summary="Set a budget (created, or its limits changed: 201 or 200)",
        description="One budget per scope, subject and period; setting it again changes its "
        "limits, which apply from the next call on to what was already spent this period.",
    )
    def post(self, request):
        params = serializers.BudgetInput(data=request.data)
        params.is_valid(raise_exception=True)
        budget, created = set_budget(**params.validated_data)
        (status,) = budget_statuses([budget])
        body = serializers.BudgetOutput(status).data
        return Response(body, status=201 if created else 200)


class BudgetView(TokenSecretView):
    """One budget, by the id the list gives."""

    @extend_schema(
        responses={204: None, **error_responses(403, 404)},
        auth=TOKEN_SECRET_AUTH,
        summary="Remove a budget",
    )
    def delete(self, request, budget_id: int):
        remove_budget(budget_id)
        return Response(status=204)
