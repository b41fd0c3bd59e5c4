"""Input and output shapes of POST /telemetry (the seed's body)."""

import json

from rest_framework import serializers

from accounts.serializers import SoeidField
from dgen_ping_site.serializers import StrictInput

MAX_EXTRA_KEYS = 32
MAX_EXTRA_BYTES = 8192


class TelemetryMetadataInput(StrictInput):
    """The seed's metadata fields; other keys are kept in the event's `extra`."""

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
