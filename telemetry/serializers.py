"""Input and output shapes of POST /telemetry and of the usage reports."""

import dataclasses
import re
from datetime import UTC, datetime, timedelta

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import SoeidField
from dgen_ping_site.clock import iso_utc
from dgen_ping_site.openapi import NO_NUL
from dgen_ping_site.parsers import INT64
from dgen_ping_site.serializers import StrictInput, TextAsSent
from telemetry.backends.base import Position
from telemetry.query import (
    AGE_PATTERN,
    GROUP_FIELDS,
    EventFilter,
    parse_group_by,
    parse_moment,
    parse_timestamp,
)
from telemetry.schema import FIELD_TYPES

# Metadata beyond the documented fields is kept in the event's `extra`: at most
# MAX_METADATA_KEYS keys in all (the documented 10 and 32 more), named like event types, with
# scalar values.
MAX_METADATA_KEYS = 42
EXTRA_KEY = r"^[A-Za-z0-9_.:-]{1,64}$"
EXTRA_KEY_RULE = "1-64 letters, digits, '_', '.', ':' or '-'"
MAX_EXTRA_TEXT = 256
EXTRA_VALUE_SCHEMA = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_EXTRA_TEXT, "pattern": NO_NUL},
        {"type": "number", "minimum": INT64[0], "maximum": INT64[1]},
        {"type": "boolean"},
        {"type": "null"},
    ],
}


def extra_value_error(value) -> str | None:
    """Why `value` cannot be a metadata value beyond the documented ones, or None
    (EXTRA_VALUE_SCHEMA; the request parser has refused numbers beyond 64 bits already)."""
    if isinstance(value, str):
        if len(value) > MAX_EXTRA_TEXT or "\x00" in value:
            return f"Text of at most {MAX_EXTRA_TEXT} characters, without NUL."
        return None
    if value is None or isinstance(value, bool | int | float):
        return None
    return "Must be a string, a number, true, false or null."


class TelemetryMetadataInput(StrictInput):
    """The metadata fields every event has; other keys are kept in the event's `extra`."""

    extra_fields = EXTRA_VALUE_SCHEMA
    object_limits = {"maxProperties": MAX_METADATA_KEYS, "propertyNames": {"pattern": EXTRA_KEY}}

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
        self._check_extra(data, extra)
        if "method" in values:
            values["method"] = values["method"].upper()
        return {**values, "extra": extra}

    def _check_extra(self, data: dict, extra: dict) -> None:
        if len(data) > MAX_METADATA_KEYS:
            raise serializers.ValidationError(
                f"At most {MAX_METADATA_KEYS} keys: the documented ones and "
                f"{MAX_METADATA_KEYS - 10} more."
            )
        errors = {}
        for key, value in extra.items():
            if not re.fullmatch(EXTRA_KEY, key):
                errors[key] = [f"Keys beyond the documented ones: {EXTRA_KEY_RULE}."]
            elif message := extra_value_error(value):
                errors[key] = [message]
        if errors:
            raise serializers.ValidationError(errors)


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


@extend_schema_field(
    {
        "anyOf": [
            {"type": "string", "format": "date"},
            {"type": "string", "format": "date-time"},
            {"type": "string", "pattern": AGE_PATTERN},
        ]
    }
)
class MomentField(serializers.CharField):
    """A time: ISO date or datetime (UTC unless an offset is given), or an age like 7d."""

    def to_internal_value(self, data):
        try:
            return parse_moment(super().to_internal_value(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


GROUP_NAME = f"({'|'.join(GROUP_FIELDS)})"
# Blank, or names: (allow_blank makes the schema say "blank, or this pattern").
GROUP_BY_PATTERN = f"^{GROUP_NAME}(,{GROUP_NAME})*$"


@extend_schema_field({"type": "string", "pattern": GROUP_BY_PATTERN})
class GroupByField(serializers.CharField):
    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        if text and not re.fullmatch(GROUP_BY_PATTERN, text):
            raise serializers.ValidationError(
                f"Comma-separated names (no spaces) from: {', '.join(GROUP_FIELDS)}."
            )
        return parse_group_by(text)


# A cursor is the position of the last event of a page: its timestamp, in milliseconds since
# 1970, and its event id. Every text of this form is a position (so the schema says exactly
# what is accepted), though only a next_cursor the API gave continues a listing.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR_PATTERN = r"^[0-9]{1,13}\.[0-9A-Za-z_-]{1,64}$"


@extend_schema_field({"type": "string", "pattern": CURSOR_PATTERN})
class CursorField(serializers.CharField):
    """Where the next page starts, as the previous page's `next_cursor` gave it."""

    def to_internal_value(self, data) -> Position:
        text = super().to_internal_value(data)
        if not re.fullmatch(CURSOR_PATTERN, text):
            raise serializers.ValidationError("Invalid cursor: use a next_cursor as given.")
        milliseconds, event_id = text.split(".", 1)
        return iso_utc(EPOCH + timedelta(milliseconds=int(milliseconds))), event_id


def encode_cursor(position: Position) -> str:
    """A position as a cursor (CURSOR_PATTERN)."""
    timestamp, event_id = position
    milliseconds = (parse_timestamp(timestamp) - EPOCH) // timedelta(milliseconds=1)
    return f"{milliseconds}.{event_id}"


class UsageFiltersInput(TextAsSent):
    since = MomentField(
        required=False,
        help_text="Events at or after this time: 2025-01-31, 2025-01-31T12:00:00Z, or an "
        "age such as 7d, 12h, 30m (UTC unless an offset is given).",
    )
    until = MomentField(required=False, help_text="Events before this time (exclusive).")
    project = serializers.CharField(max_length=128, required=False)
    model = serializers.CharField(max_length=128, required=False)
    event_type = serializers.CharField(max_length=64, required=False)


class AdminFiltersInput(UsageFiltersInput):
    soeid = SoeidField(required=False, help_text="Only this person's events.")


class GroupByInput(TextAsSent):
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
