"""Input and output shapes of the token endpoints (the original fields, plus expiry)."""

from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Budget, subject_problem
from accounts.selectors import TOKEN_STATUSES, token_status
from accounts.tokens import SOEID_PATTERN, SOEID_RULE, is_valid_soeid
from dgen_ping_site.clock import iso_utc
from dgen_ping_site.serializers import StrictInput, TextAsSent


@extend_schema_field({"type": "string", "pattern": f"^{SOEID_PATTERN.pattern}$"})
class SoeidField(serializers.CharField):
    """A SOEID, exactly as the schema's pattern says: nothing trimmed, nothing converted."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("help_text", f"Employee id: {SOEID_RULE}.")
        kwargs.setdefault("trim_whitespace", False)
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


class TokenListInput(TextAsSent):
    soeid = SoeidField(required=False, help_text="Only this person's tokens.")
    project = serializers.CharField(max_length=128, required=False)
    status = serializers.ChoiceField(choices=TOKEN_STATUSES, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    # Bounded, so the database never sees an offset it cannot hold (SQLite: 64 bits).
    offset = serializers.IntegerField(min_value=0, max_value=10**9, default=0)


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


# --- Budgets (administrators) ----------------------------------------------------------------


# Amounts below 10^8 USD, kept to the micro-dollar (the Budget model's 6 decimal places).
USD_LIMIT = 10**8
USD_PLACES = Decimal("0.000001")


@extend_schema_field(
    {"type": "number", "minimum": 0, "exclusiveMaximum": USD_LIMIT, "example": 25.5}
)
class UsdField(serializers.Field):
    """An amount of USD as a JSON number (not text), kept to the micro-dollar: finer digits
    are dropped (rounding down keeps a limit within what was asked, and below USD_LIMIT), since
    a schema cannot state a number's decimal places exactly (`multipleOf` on fractions
    depends on floating-point rounding)."""

    default_error_messages = {
        "invalid": "Must be a JSON number of USD, e.g. 25.50.",
        "negative": "Must be at least 0.",
        "too_large": f"Must be less than {USD_LIMIT} USD.",
    }

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, int | float | Decimal):
            self.fail("invalid")
        amount = Decimal(str(data))
        if not amount.is_finite():
            self.fail("invalid")
        if amount < 0:
            self.fail("negative")
        if amount >= USD_LIMIT:
            self.fail("too_large")
        return amount.quantize(USD_PLACES, rounding=ROUND_DOWN)

    def to_representation(self, value) -> float:
        return float(value)


class BudgetInput(StrictInput):
    """The rules of setting a budget, for the API, the `budgets` command and the admin."""

    # What validate() checks, as the schema states it: the subject its scope wants, and at
    # least one limit that is not null.
    object_limits = {
        "oneOf": [
            {
                "properties": {
                    "scope": {"const": Budget.Scope.DEFAULT_SOEID.value},
                    "subject": {"maxLength": 0},
                }
            },
            {
                "properties": {
                    "scope": {"const": Budget.Scope.SOEID.value},
                    "subject": {"pattern": f"^{SOEID_PATTERN.pattern}$"},
                },
                "required": ["subject"],
            },
            {
                "properties": {
                    "scope": {"const": Budget.Scope.PROJECT.value},
                    "subject": {"minLength": 1},
                },
                "required": ["subject"],
            },
        ],
        "anyOf": [
            {"properties": {"token_limit": {"type": "integer"}}, "required": ["token_limit"]},
            {"properties": {"cost_limit": {"type": "number"}}, "required": ["cost_limit"]},
        ],
    }

    scope = serializers.ChoiceField(
        choices=Budget.Scope.choices,
        help_text="soeid (one person), project, or default_soeid (every SOEID without a "
        "budget of its own for that period).",
    )
    subject = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        default="",
        help_text="The SOEID or project; empty for default_soeid.",
    )
    period = serializers.ChoiceField(choices=Budget.Period.choices, help_text="UTC calendar.")
    token_limit = serializers.IntegerField(
        min_value=0,
        max_value=2**62,
        required=False,
        allow_null=True,
        help_text="Tokens (prompt + completion) per period.",
    )
    cost_limit = UsdField(required=False, allow_null=True, help_text="USD per period.")

    def validate(self, attrs):
        problem = subject_problem(attrs["scope"], attrs.get("subject", ""))
        if problem:
            raise serializers.ValidationError({"subject": [problem]})
        if attrs.get("token_limit") is None and attrs.get("cost_limit") is None:
            raise serializers.ValidationError(
                {"non_field_errors": ["Give a token_limit, a cost_limit or both."]}
            )
        return attrs


class BudgetOutput(serializers.Serializer):
    id = serializers.IntegerField(source="budget.id")
    scope = serializers.CharField(source="budget.scope")
    subject = serializers.CharField(source="budget.subject")
    period = serializers.CharField(source="budget.period")
    token_limit = serializers.IntegerField(source="budget.token_limit", allow_null=True)
    cost_limit = UsdField(source="budget.cost_limit", allow_null=True)
    window_start = TimestampField(help_text="The current period, from...")
    window_end = TimestampField(help_text="...to (exclusive): when it resets.")
    spent_tokens = serializers.IntegerField(
        allow_null=True,
        help_text="This period, calls in flight included; null for "
        "default_soeid (each SOEID counts apart).",
    )
    spent_cost = UsdField(allow_null=True)
    updated_at = TimestampField(source="budget.updated_at")
