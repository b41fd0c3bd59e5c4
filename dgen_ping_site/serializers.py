"""Input serializer behaviour every endpoint shares."""

from collections.abc import Mapping

from rest_framework import serializers

# The JSON type each kind of field documents in the schema, and the Python types that are it.
# Subclasses count: SoeidField and RegexField are CharFields.
JSON_TYPES = (
    (serializers.CharField, "string", (str,)),
    (serializers.BooleanField, "boolean", (bool,)),
    (serializers.IntegerField, "integer", (int,)),
    (serializers.FloatField, "number", (int, float)),
)


def json_type_error(field: serializers.Field, value) -> str | None:
    """Why `value` is not of the JSON type `field` documents, or None when it is."""
    for field_class, name, types in JSON_TYPES:
        if isinstance(field, field_class):
            # bool is an int in Python, never a number in JSON.
            if isinstance(value, types) and (bool in types or not isinstance(value, bool)):
                return None
            return f"Must be a JSON {name}."
    return None


class StrictInput(serializers.Serializer):
    """An input whose fields take the JSON type the schema gives them, and only that.

    DRF converts: a CharField takes 0 as "0", a FloatField takes false as 0.0 and "0.5" as
    0.5, a BooleanField takes "yes". The schema promises types, OpenAI's API refuses such
    values too, and a client that sends them has a bug worth hearing about.
    """

    def to_internal_value(self, data):
        errors = self.type_errors(data)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Name every bad field: DRF's own errors, with ours for the mistyped ones.
            if errors and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **errors}) from None
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def type_errors(self, data) -> dict[str, list[str]]:
        if not isinstance(data, Mapping):
            return {}
        return {
            name: [error]
            for name, field in self.fields.items()
            if data.get(name) is not None
            and (error := json_type_error(field, data[name])) is not None
        }
