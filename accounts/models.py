from django.db import models


class RevokedToken(models.Model):
    """A token id (`jti`) that must no longer be accepted, whatever its expiry says."""

    jti = models.CharField(max_length=64, primary_key=True)
    soeid = models.CharField(max_length=64, blank=True)
    revoked_at = models.DateTimeField(auto_now_add=True)
    # Kept so that rows can be pruned once the token would have expired anyway.
    expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.jti} ({self.soeid})"
