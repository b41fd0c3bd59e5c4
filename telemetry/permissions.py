"""Who may read everyone's telemetry: holders of the token secret, and Django staff."""

from rest_framework.permissions import BasePermission

from accounts.errors import TokenSecretRequired
from accounts.permissions import TOKEN_SECRET_HEADER, has_token_secret


class IsTelemetryAdmin(BasePermission):
    """Allows a valid X-Token-Secret header or a signed-in staff user (Django session).

    A wrong secret is refused as on the token endpoints (403). Without either, DRF answers
    401 to a request with no credentials and 403 to an ordinary user's token.
    """

    message = "Administrators only: send X-Token-Secret, or sign in as a staff user."
    code = "admin_required"

    def has_permission(self, request, view) -> bool:
        if TOKEN_SECRET_HEADER in request.META:
            if has_token_secret(request):
                return True
            raise TokenSecretRequired()
        return bool(getattr(request.user, "is_staff", False))
