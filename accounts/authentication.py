"""DRF authentication for gateway JWTs sent as `X-API-Token` or `Authorization: Bearer`."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication

from accounts.services import identity_for_token

API_TOKEN_HEADER = "HTTP_X_API_TOKEN"


def raw_token_from(request) -> str | None:
    """The token the caller sent: X-API-Token (the original API's header) before Authorization."""
    meta = request.META
    if API_TOKEN_HEADER in meta:
        return meta[API_TOKEN_HEADER].strip()
    scheme, _, credentials = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    return None


class GatewayTokenAuthentication(BaseAuthentication):
    """Authenticates a gateway JWT; applies the development default-token rule when enabled."""

    def authenticate(self, request):
        raw = raw_token_from(request)
        identity = identity_for_token(raw)
        return (identity, raw) if identity else None

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return 'Bearer realm="dgen-ping"'


class GatewayTokenScheme(OpenApiAuthenticationExtension):
    """Describes both accepted headers in the OpenAPI schema, so Swagger's Authorize works."""

    target_class = GatewayTokenAuthentication
    name = ["ApiToken", "BearerAuth"]

    def get_security_requirement(self, auto_schema):
        # Either header is enough: alternatives, not both at once. With the development
        # default token, no token at all is accepted too: `{}` says so.
        optional = [{}] if settings.ALLOW_DEFAULT_TOKEN else []
        return [*({name: []} for name in self.name), *optional]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-Token"},
            {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        ]
