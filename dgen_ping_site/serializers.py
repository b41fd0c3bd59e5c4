"""Input serializer behaviour every endpoint shares: text as sent, and for JSON bodies, strict
types and no undeclared fields. The schema says the same (dgen_ping_site.openapi)."""

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


class TextAsSent(serializers.Serializer):
    """An input whose text fields take text as it was sent.

    DRF strips whitespace before checking lengths and patterns, so "  x" passes a maxLength of
    1 that the schema says it breaks. Here text is not stripped (a field that wants it says so,
    trim_whitespace=True, and then has no length or pattern), and text that is only
    whitespace is still refused where a blank is (allow_blank=False).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for field in cls._declared_fields.values():
            if isinstance(field, serializers.CharField) and "trim_whitespace" not in field._kwargs:
                # In _kwargs too: DRF rebuilds each field from them for every serializer.
                field._kwargs["trim_whitespace"] = field.trim_whitespace = False

    def to_internal_value(self, data):
        errors = self.input_errors(data)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Name every bad field: DRF's own errors, with ours.
            if errors and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **errors}) from None
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def input_errors(self, data) -> dict[str, list[str]]:
        """Errors found in `data` itself, before DRF's fields read it."""
        if not isinstance(data, Mapping):
            return {}
        return {
            name: [BLANK]
            for name, field in self.fields.items()
            if isinstance(field, serializers.CharField)
            and not field.allow_blank
            and isinstance(data.get(name), str)
            and data[name]
            and not data[name].strip()
        }


BLANK = "This field may not be blank."


class StrictInput(TextAsSent):
    """A JSON body whose fields take the JSON type the schema gives them, and only that; and
    that has no fields it does not declare.

    DRF converts: a CharField takes 0 as "0", a FloatField takes false as 0.0 and "0.5" as
    0.5, a BooleanField takes "yes". The schema promises types, OpenAI's API refuses such
    values too, and a client that sends them has a bug worth hearing about. DRF also drops
    fields it does not know without a word, so a misspelt optional field is silently lost.

    `extra_fields` says what becomes of a field the serializer does not declare: False, it
    is refused (400 naming it); True, it is ignored, as DRF does; a JSON schema, it is kept
    for the subclass to check against that schema. The OpenAPI schema says the same
    (additionalProperties, dgen_ping_site.openapi).
    """

    extra_fields: bool | dict = False

    def input_errors(self, data) -> dict[str, list[str]]:
        return super().input_errors(data) | self.type_errors(data) | self.unknown_field_errors(data)

    def type_errors(self, data) -> dict[str, list[str]]:
        if not isinstance(data, Mapping):
            return {}
        return {
            name: [error]
            for name, field in self.fields.items()
            if data.get(name) is not None
            and (error := json_type_error(field, data[name])) is not None
        }

    def unknown_field_errors(self, data) -> dict[str, list[str]]:
        if self.extra_fields is not False or not isinstance(data, Mapping):
            return {}
        known = ", ".join(self.fields)
        message = f"Unknown field. Known fields: {known}." if known else "Unknown field."
        return {name: [message] for name in data if name not in self.fields}


def validated_query(request, input_class: type[serializers.Serializer]) -> dict:
    """The query parameters of `request`, validated by `input_class`: each given once.

    Read from a plain dict, not the QueryDict: DRF reads a blank value in form-style input as
    "not given", where the schema says a blank filter is invalid. A parameter given twice is
    refused rather than read as its last value: the schema gives each one value.
    """
    repeated = {
        name: ["Give this parameter once."]
        for name, values in request.query_params.lists()
        if len(values) > 1
    }
    if repeated:
        raise serializers.ValidationError(repeated)
    params = input_class(data=request.query_params.dict())
    params.is_valid(raise_exception=True)
    return params.validated_data
