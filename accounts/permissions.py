"""Permission for the administrators' endpoints: the shared token secret."""

import hmac

from django.conf import settings
from rest_framework.permissions import BasePermission

from accounts.errors import TokenSecretRequired

TOKEN_SECRET_HEADER = "HTTP_X_TOKEN_SECRET"
# How the OpenAPI schema names this scheme (declared in SPECTACULAR_SETTINGS).
TOKEN_SECRET_AUTH = [{"TokenSecret": []}]


def has_token_secret(request) -> bool:
    sent = request.META.get(TOKEN_SECRET_HEADER, "")
    # Constant time, so response timing does not reveal how much of a guess was right.
    return hmac.compare_digest(sent.encode(), settings.TOKEN_SECRET.encode())


class HasTokenSecret(BasePermission):
    """Allows requests carrying the configured X-Token-Secret header."""

    def has_permission(self, request, view) -> bool:
        if not has_token_secret(request):
            raise TokenSecretRequired()
        return True
