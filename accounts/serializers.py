"""Input and output shapes of the token endpoints (the original fields, plus expiry)."""

from django.conf import settings
from rest_framework import serializers

from accounts.tokens import SOEID_RULE, is_valid_soeid
from dgen_ping_site.serializers import StrictInput


class SoeidField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("help_text", f"Employee id: {SOEID_RULE}.")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not is_valid_soeid(value):
            raise serializers.ValidationError(f"Invalid SOEID: must be {SOEID_RULE}.")
        return value


class GenerateTokenInput(StrictInput):
    soeid = SoeidField(default=settings.DEFAULT_SOEID)
    project_id = serializers.CharField(max_length=128, required=False, default="")
    expires_in = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.TOKEN_MAX_LIFETIME_SECONDS,
        help_text="Lifetime in seconds; defaults to TOKEN_LIFETIME_SECONDS.",
    )


class GenerateTokenOutput(serializers.Serializer):
    token = serializers.CharField()
    soeid = serializers.CharField()
    project_id = serializers.CharField()
    timestamp = serializers.CharField()
    expires_at = serializers.CharField()


class VerifyTokenInput(StrictInput):
    token = serializers.CharField(trim_whitespace=True)


class TokenDataOutput(serializers.Serializer):
    soeid = serializers.CharField()
    project_id = serializers.CharField()
    jti = serializers.CharField(required=False)
    issued_at = serializers.CharField(required=False)
    expires_at = serializers.CharField(required=False)
    default_token = serializers.BooleanField(required=False)


class VerifyTokenOutput(serializers.Serializer):
    valid = serializers.BooleanField()
    data = TokenDataOutput(required=False)
    error = serializers.CharField(required=False)
    timestamp = serializers.CharField()
