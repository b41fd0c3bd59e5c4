"""Input and output shapes of POST /telemetry and of the usage reports."""

import base64
import dataclasses
import json

from rest_framework import serializers

from accounts.serializers import SoeidField
from dgen_ping_site.serializers import StrictInput
from telemetry.backends.base import Position
from telemetry.query import (
    GROUP_FIELDS,
    EventFilter,
    parse_group_by,
    parse_moment,
    parse_timestamp,
)
from telemetry.schema import FIELD_TYPES

MAX_EXTRA_KEYS = 32
MAX_EXTRA_BYTES = 8192


class TelemetryMetadataInput(StrictInput):
    """The metadata fields every event has; other keys are kept in the event's `extra`."""

    client_id = serializers.CharField(max_length=128, required=False)
    soeid = SoeidField(required=False, help_text="Used only with the default token.")
    project_name = serializers.CharField(max_length=128, required=False)
    target_service = serializers.CharField(max_length=128, required=False)
    endpoint = serializers.CharField(max_length=2048, required=False)
    method = serializers.RegexField(r"^[A-Za-z]{1,16}$", required=False)
    status_code = serializers.IntegerField(min_value=100, max_value=599, required=False)
    latency_ms = serializers.FloatField(min_value=0, required=False)
    request_size = serializers.IntegerField(min_value=0, required=False)
    response_size = serializers.IntegerField(min_value=0, required=False)

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        extra = {key: value for key, value in data.items() if key not in self.fields}
        if len(extra) > MAX_EXTRA_KEYS or len(json.dumps(extra)) > MAX_EXTRA_BYTES:
            raise serializers.ValidationError(
                f"At most {MAX_EXTRA_KEYS} extra keys and {MAX_EXTRA_BYTES} bytes of extra data."
            )
        if "method" in values:
            values["method"] = values["method"].upper()
        return {**values, "extra": extra}


class TelemetryEventInput(StrictInput):
    event_type = serializers.RegexField(
        r"^[A-Za-z0-9_.:-]{1,64}$", default="custom_event", help_text="e.g. custom_event"
    )
    request_id = serializers.CharField(max_length=128, required=False)
    client_ip = serializers.IPAddressField(required=False)
    metadata = TelemetryMetadataInput(required=False)


class TelemetryAcceptedOutput(serializers.Serializer):
    status = serializers.ChoiceField(["accepted"])
    event_id = serializers.CharField()
    timestamp = serializers.CharField()


# --- Reporting: GET /api/telemetry/events, /usage, /usage/me ---------------------------------

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_FILTER_NAMES = {field.name for field in dataclasses.fields(EventFilter)}


class MomentField(serializers.CharField):
    """A time: ISO date or datetime (UTC unless an offset is given), or an age like 7d."""

    def to_internal_value(self, data):
        try:
            return parse_moment(super().to_internal_value(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class GroupByField(serializers.CharField):
    def to_internal_value(self, data):
        try:
            return parse_group_by(super().to_internal_value(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class CursorField(serializers.CharField):
    """Where the next page starts, as the previous page's `next_cursor` gave it (opaque)."""

    def to_internal_value(self, data) -> Position:
        text = super().to_internal_value(data)
        try:
            padded = text + "=" * (-len(text) % 4)
            timestamp, event_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
            parse_timestamp(timestamp)
        except (ValueError, TypeError):
            raise serializers.ValidationError(
                "Invalid cursor: use a next_cursor as given."
            ) from None
        return str(timestamp), str(event_id)


def encode_cursor(position: Position) -> str:
    """A position as URL-safe text (base64 without padding, so nothing needs escaping)."""
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


class UsageFiltersInput(serializers.Serializer):
    since = MomentField(
        required=False,
        help_text="Events at or after this time: 2025-01-31, 2025-01-31T12:00:00Z, or an "
        "age such as 7d, 12h, 30m (UTC unless an offset is given).",
    )
    until = MomentField(required=False, help_text="Events before this time (exclusive).")
    project = serializers.CharField(max_length=128, required=False)
    model = serializers.CharField(max_length=128, required=False)
    event_type = serializers.CharField(max_length=64, required=False)

    def validate(self, data):
        if "since" in data and "until" in data and data["since"] >= data["until"]:
            raise serializers.ValidationError({"until": ["Must be later than since."]})
        return data


class AdminFiltersInput(UsageFiltersInput):
    soeid = SoeidField(required=False, help_text="Only this person's events.")


class GroupByInput(serializers.Serializer):
    group_by = GroupByField(
        required=False,
        allow_blank=True,
        help_text=f"Comma-separated, from: {', '.join(GROUP_FIELDS)} (e.g. project,model). "
        "Empty: one total row.",
    )


class EventsInput(AdminFiltersInput):
    cursor = CursorField(required=False)
    page_size = serializers.IntegerField(
        min_value=1, max_value=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE
    )


class UsageInput(AdminFiltersInput, GroupByInput):
    pass


class MyUsageInput(UsageFiltersInput, GroupByInput):
    pass


def event_filter(data: dict, **fixed) -> EventFilter:
    """The EventFilter that validated filter parameters describe."""
    return EventFilter(**{k: v for k, v in data.items() if k in _FILTER_NAMES}, **fixed)


_OUTPUT_FIELDS = {
    str: serializers.CharField,
    int: serializers.IntegerField,
    float: serializers.FloatField,
    bool: serializers.BooleanField,
    dict: serializers.DictField,
}
# Built from the schema, so the documented shape cannot drift from the stored one.
TelemetryEventOutput = type(
    "TelemetryEventOutput",
    (serializers.Serializer,),
    {name: _OUTPUT_FIELDS[kind](allow_null=True) for name, kind in FIELD_TYPES.items()},
)


class EventsPageOutput(serializers.Serializer):
    results = TelemetryEventOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as cursor.")
    next = serializers.URLField(allow_null=True, help_text="The next page; null at the end.")


class UsageRowOutput(serializers.Serializer):
    soeid = serializers.CharField(required=False, allow_null=True)
    project = serializers.CharField(required=False, allow_null=True)
    model = serializers.CharField(required=False, allow_null=True)
    event_type = serializers.CharField(required=False, allow_null=True)
    day = serializers.CharField(required=False, allow_null=True, help_text="YYYY-MM-DD, UTC")
    token = serializers.CharField(
        required=False, allow_null=True, help_text="The token's jti (GET /api/tokens)."
    )
    requests = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="Status >= 400, or an error recorded.")
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.FloatField(help_text="USD; events without a price count as 0.")
    p50_latency_ms = serializers.FloatField(allow_null=True)
    p95_latency_ms = serializers.FloatField(allow_null=True)


class UsageFiltersOutput(serializers.Serializer):
    since = serializers.CharField(allow_null=True)
    until = serializers.CharField(allow_null=True)
    soeid = serializers.CharField(allow_null=True)
    project = serializers.CharField(allow_null=True)
    model = serializers.CharField(allow_null=True)
    event_type = serializers.CharField(allow_null=True)


class UsageReportOutput(serializers.Serializer):
    group_by = serializers.ListField(child=serializers.CharField())
    filters = UsageFiltersOutput()
    rows = UsageRowOutput(many=True)
