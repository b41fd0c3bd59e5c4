"""Input and output shapes of the token endpoints (the seed's, plus expiry fields)."""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.selectors import TOKEN_STATUSES, token_status
from accounts.tokens import SOEID_RULE, is_valid_soeid
from dgen_ping_site.clock import iso_utc
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
    """The rules of issuing a token, for the API and the `issue_token` command alike."""

    # Required: a token for default_user because a field was forgotten would be a bug.
    soeid = SoeidField()
    project_id = serializers.CharField(max_length=128, required=False, default="")
    expires_in = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.TOKEN_MAX_LIFETIME_SECONDS,
        help_text="Lifetime in seconds; defaults to TOKEN_LIFETIME_SECONDS.",
    )
    name = serializers.CharField(
        max_length=100,
        required=False,
        default="",
        allow_blank=True,
        help_text="What the token is for (registry).",
    )


class GenerateTokenOutput(serializers.Serializer):
    token = serializers.CharField()
    soeid = serializers.CharField()
    project_id = serializers.CharField()
    jti = serializers.CharField(help_text="The token's id in the registry (revoke with it).")
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


# --- The token registry (administrators) ---------------------------------------------------


class TokenListInput(serializers.Serializer):
    soeid = SoeidField(required=False, help_text="Only this person's tokens.")
    project = serializers.CharField(max_length=128, required=False)
    status = serializers.ChoiceField(choices=TOKEN_STATUSES, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    offset = serializers.IntegerField(min_value=0, default=0)


class TimestampField(serializers.DateTimeField):
    """A moment as the API shows them everywhere: UTC, milliseconds, 'Z'."""

    def to_representation(self, value):
        return iso_utc(value)


class TokenRecordOutput(serializers.Serializer):
    jti = serializers.CharField()
    soeid = serializers.CharField()
    project_id = serializers.CharField()
    name = serializers.CharField()
    issued_at = TimestampField(allow_null=True, help_text="Null: revoked before the registry.")
    expires_at = TimestampField(allow_null=True)
    issued_by = serializers.CharField()
    revoked_at = TimestampField(allow_null=True)
    revoked_reason = serializers.CharField()
    status = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=TOKEN_STATUSES))
    def get_status(self, record) -> str:
        return token_status(record)


class TokenListOutput(serializers.Serializer):
    count = serializers.IntegerField(help_text="Tokens matching the filters, on every page.")
    results = TokenRecordOutput(many=True)
