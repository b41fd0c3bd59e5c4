"""The seed's token endpoints, and the token registry, for administrators holding the token
secret."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import serializers
from accounts.errors import InvalidToken
from accounts.permissions import TOKEN_SECRET_AUTH, HasTokenSecret
from accounts.selectors import registered_tokens
from accounts.services import describe_token, issue_token
from dgen_ping_site.clock import iso_utc
from dgen_ping_site.openapi import BODY_REFUSALS, error_responses
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
        params = serializers.TokenListInput(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        filters = dict(params.validated_data)
        limit, offset = filters.pop("limit"), filters.pop("offset")
        rows = registered_tokens(**filters)
        page = serializers.TokenRecordOutput(rows[offset : offset + limit], many=True).data
        return Response({"count": rows.count(), "results": page})
