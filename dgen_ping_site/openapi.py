"""What the OpenAPI schema says beyond what drf-spectacular infers: the error body and its
statuses, and exactly what request fields accept.

Views list the statuses they can answer with `error_responses(...)`, so the published schema
names every status a client may get; the extensions below make request schemas exact. The
fuzz suite (tests/fuzz) holds the code to both.
"""

from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.fields import ListField
from rest_framework.serializers import ListSerializer

from dgen_ping_site.parsers import INT64

ERROR_MEANINGS = {
    400: "Invalid input; `fields` says which and why.",
    401: "No token, or one that is invalid, expired or revoked.",
    403: "Not allowed: a missing or wrong X-Token-Secret, a body SOEID that is not the token's, "
    "or a model without a price under a cost budget.",
    404: "No such resource.",
    411: "A body sent without Content-Length (chunked) is refused (error shape: ErrorOutput).",
    413: "The request body is larger than MAX_REQUEST_BODY_BYTES (error shape: ErrorOutput).",
    429: "Rate limited (requests or tokens a minute, per SOEID), a budget exceeded, or the "
    "upstream rate limiting; Retry-After says when to come back.",
    502: "The upstream failed or answered something unreadable.",
    503: "A store the answer needs is unavailable: the telemetry store (reports), or the "
    "budget ledger (LLM calls under a budget, budget lists).",
    504: "The upstream did not answer in time.",
}

# The refusals of RequestBodyLimitMiddleware, possible wherever a body is taken.
BODY_REFUSALS = (411, 413)


class ErrorOutput(serializers.Serializer):
    """The project's error body (dgen_ping_site.exceptions)."""

    detail = serializers.CharField()
    code = serializers.CharField()
    fields = serializers.DictField(required=False, help_text="Per-field messages of bad input.")


def error_responses(*statuses: int, body=ErrorOutput) -> dict[int, OpenApiResponse]:
    """Schema responses for error `statuses`, each with the `body` serializer.

    The body refusals always have the project's shape: they come before any view runs.
    """
    return {
        status: OpenApiResponse(
            ErrorOutput if status in BODY_REFUSALS else body, description=ERROR_MEANINGS[status]
        )
        for status in statuses
    }


# --- What request fields accept, exactly -----------------------------------------------------
# The schema must say what the API takes, no more and no less: a client (or a fuzzer) that
# sends what it allows is served, and what it forbids is refused. These extensions add what
# drf-spectacular leaves out. They apply to request fields only.

# DRF's CharField refuses NUL, and, unless blanks are allowed, text that is only whitespace
# (dgen_ping_site.serializers.TextAsSent). The whitespace characters (str.isspace) are
# listed one by one: `\\s` means different sets to Python, JavaScript and schema-driven
# generators.
WHITESPACE = "".join(f"\\u{code:04x}" for code in range(0x3001) if chr(code).isspace())
NO_NUL = "^[^\\x00]*$"
NOT_BLANK = f"^[^\\x00]*[^\\x00{WHITESPACE}][^\\x00]*$"
# For a field that may be blank: drf-spectacular then offers "" as a oneOf branch of its own,
# so this one must not match "" too (oneOf allows exactly one).
NOT_EMPTY = "^[^\\x00]+$"


def inferred(auto_schema, field, direction: str) -> dict:
    """drf-spectacular's own schema of `field`, less the null it adds again to an extension's
    answer (under OpenAPI 3.1, "null" would be in the type list twice)."""
    schema = auto_schema._map_serializer_field(field, direction, bypass_extensions=True)
    kinds = schema.get("type")
    if field.allow_null and isinstance(kinds, list):
        rest = [kind for kind in kinds if kind != "null"]
        schema["type"] = rest[0] if len(rest) == 1 else rest
    return schema


class CharFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.fields.CharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        schema = inferred(auto_schema, field, direction)
        has_pattern = any(isinstance(v, RegexValidator) for v in field.validators)
        if direction == "request" and schema.get("type") == "string" and not has_pattern:
            schema["pattern"] = NOT_EMPTY if field.allow_blank else NOT_BLANK
        return schema


class NumberSchema(OpenApiSerializerFieldExtension):
    """Numbers beyond signed 64 bits are refused by the request parser, anywhere."""

    target_class = "rest_framework.fields.IntegerField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = inferred(auto_schema, self.target, direction)
        if direction == "request":
            schema.setdefault("minimum", INT64[0])
            schema.setdefault("maximum", INT64[1])
        return schema


class FloatSchema(NumberSchema):
    target_class = "rest_framework.fields.FloatField"


class IPAddressSchema(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.fields.IPAddressField"
    priority = 1

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}


class StrictInputSchema(OpenApiSerializerExtension):
    """What dgen_ping_site.serializers.StrictInput enforces beyond its fields' own schemas:
    which undeclared fields it takes (extra_fields), limits on the object as a whole
    (object_limits), and lists that may not be empty."""

    target_class = "dgen_ping_site.serializers.StrictInput"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction != "request":
            return schema
        extra = self.target.extra_fields
        if extra is not True:
            schema["additionalProperties"] = extra
        schema.update(getattr(self.target, "object_limits", {}))
        for name, field in self.target.fields.items():
            if isinstance(field, ListSerializer | ListField) and not field.allow_empty:
                schema["properties"][name].setdefault("minItems", 1)
        return schema


# --- Values the gateway passes on unjudged ----------------------------------------------------
# Where the upstream, not the gateway, is the authority (OpenAI's fields the gateway does not
# list, the keys of a message or content part it does not use), the schema says "any JSON
# value": whatever the request parser takes anywhere (dgen_ping_site.parsers), so no key with
# a NUL and no number beyond signed 64 bits. The parser also refuses lone surrogates, which
# JSON Schema cannot name, and nesting past 64 levels, which no schema-driven client reaches.
JSON_KEY = {"pattern": NO_NUL}
JSON_VALUE_REF = {"$ref": "#/components/schemas/JsonValue"}
JSON_VALUE = {
    "type": ["object", "array", "string", "number", "boolean", "null"],
    "description": "Any JSON value, passed on as sent (keys without NUL, numbers within "
    "signed 64 bits).",
    "minimum": INT64[0],
    "maximum": INT64[1],
    "propertyNames": JSON_KEY,
    "additionalProperties": JSON_VALUE_REF,
    "items": JSON_VALUE_REF,
}


def json_value(auto_schema) -> dict:
    """A reference to JsonValue, registered with the document being built."""
    component = ResolvedComponent(
        name="JsonValue", type=ResolvedComponent.SCHEMA, object="json-value", schema=JSON_VALUE
    )
    auto_schema.registry.register_on_missing(component)
    return component.ref


def open_object(schema: dict, auto_schema) -> dict:
    """An object schema whose undeclared keys are passed on: any JSON value under them."""
    return {**schema, "propertyNames": JSON_KEY, "additionalProperties": json_value(auto_schema)}


# --- Links: how one answer feeds the next request ------------------------------------------
# For clients and for the fuzzer's stateful phase (sequences of calls). drf-spectacular has no
# way to state links, so a postprocessing hook adds them (SPECTACULAR_SETTINGS).
LINKS = {
    ("/generate-token", "post"): {
        "VerifyIssuedToken": {
            "operationId": "verify_token_create",
            "requestBody": {"token": "$response.body#/token"},
            "description": "Check the token just issued: it is valid and names its SOEID.",
        }
    },
}


def add_links(result: dict, generator, request, public) -> dict:
    """Postprocessing hook: LINKS on the 200 answers of their operations."""
    for (path, method), links in LINKS.items():
        operation = result["paths"].get(path, {}).get(method)
        if operation and "200" in operation["responses"]:
            operation["responses"]["200"]["links"] = links
    return result
