"""The token endpoints, for administrators holding the token secret."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import serializers
from accounts.errors import InvalidToken
from accounts.permissions import TOKEN_SECRET_AUTH, HasTokenSecret
from accounts.services import describe_token
from accounts.tokens import issue_token
from dgen_ping_site.clock import iso_utc
from dgen_ping_site.openapi import BODY_REFUSALS, error_responses

ADMIN_ERRORS = error_responses(400, 403, *BODY_REFUSALS)


class TokenSecretView(APIView):
    """Base for endpoints guarded by X-Token-Secret instead of a user token."""

    authentication_classes = []
    permission_classes = [HasTokenSecret]
    throttle_classes = []


class GenerateTokenView(TokenSecretView):
    @extend_schema(
        request=serializers.GenerateTokenInput,
        responses={200: serializers.GenerateTokenOutput, **ADMIN_ERRORS},
        auth=TOKEN_SECRET_AUTH,
        summary="Issue a JWT for a SOEID",
    )
    def post(self, request):
        params = serializers.GenerateTokenInput(data=request.data)
        params.is_valid(raise_exception=True)
        issued = issue_token(**params.validated_data)
        return Response(
            {
                "token": issued.token,
                "soeid": issued.soeid,
                "project_id": issued.project_id,
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
