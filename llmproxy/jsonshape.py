"""A small subset of JSON Schema, checked fast: the schema we publish is the check we run.

Pass-through bodies (OpenAI's) are large and mostly the upstream's business. The gateway
checks the types and limits it documents, nothing more, and converts nothing: the body goes
on as it came. Keywords: type, nullable (OpenAPI 3.0's null), enum, minimum, maximum,
minLength, minItems, maxItems, items, properties, required, additionalProperties (a schema),
oneOf. oneOf branches must not overlap (they differ by type or by an enum), so the first
branch that fits is the only one. The published schema is OpenAPI 3.1's form of the same
(`published`).
"""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from dgen_ping_site.openapi import JSON_KEY, json_value
from dgen_ping_site.parsers import INT64

PYTHON_TYPES = {
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
    "object": dict,
    "array": list,
}


class ShapeError(Exception):
    """`path` (keys and indexes from the checked value down) is not as its schema says."""

    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


def check(value, schema: dict, path: tuple = ()) -> None:
    """Raises ShapeError at the first place `value` does not fit `schema`."""
    if value is None:
        if not schema.get("nullable"):
            raise ShapeError(path, "This field may not be null.")
        return
    if "oneOf" in schema:
        _check_one_of(value, schema["oneOf"], path)
        return
    kind = schema.get("type")
    if kind is not None and not _is(value, kind):
        raise ShapeError(path, f"Must be a JSON {kind}.")
    if "enum" in schema and value not in schema["enum"]:
        raise ShapeError(path, f"Must be one of: {', '.join(map(str, schema['enum']))}.")
    if kind in ("integer", "number"):
        _check_range(value, schema, path)
    elif kind == "string" and len(value) < schema.get("minLength", 0):
        raise ShapeError(path, f"Must have at least {schema['minLength']} character(s).")
    elif kind == "array":
        _check_array(value, schema, path)
    elif kind == "object":
        _check_object(value, schema, path)


def _is(value, kind: str) -> bool:
    # bool is an int in Python, never a number in JSON.
    if isinstance(value, bool):
        return kind == "boolean"
    return isinstance(value, PYTHON_TYPES[kind])


def _check_one_of(value, branches: list[dict], path: tuple) -> None:
    fitting = [branch for branch in branches if "type" not in branch or _is(value, branch["type"])]
    if not fitting:
        kinds = " or ".join(branch["type"] for branch in branches)
        raise ShapeError(path, f"Must be a JSON {kinds}.")
    for branch in fitting[:-1]:
        try:
            check(value, branch, path)
            return
        except ShapeError:
            continue
    check(value, fitting[-1], path)


def _check_range(value, schema: dict, path: tuple) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        raise ShapeError(
            path, f"Ensure this value is greater than or equal to {schema['minimum']}."
        )
    if "maximum" in schema and value > schema["maximum"]:
        raise ShapeError(path, f"Ensure this value is less than or equal to {schema['maximum']}.")


def _check_array(value: list, schema: dict, path: tuple) -> None:
    if len(value) < schema.get("minItems", 0):
        raise ShapeError(path, f"Must have at least {schema['minItems']} item(s).")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise ShapeError(path, f"Must have at most {schema['maxItems']} item(s).")
    items = schema.get("items")
    if items:
        for index, item in enumerate(value):
            check(item, items, (*path, index))


def _check_object(value: dict, schema: dict, path: tuple) -> None:
    for name in schema.get("required", ()):
        if name not in value:
            raise ShapeError((*path, name), "This field is required.")
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for name, item in value.items():
        inner = properties.get(name, extra if isinstance(extra, dict) else None)
        if inner is not None:
            check(item, inner, (*path, name))


class ShapeField(serializers.Field):
    """A request field documented and checked by one JSON schema (the value is not converted).

    Its instances are templates: checking reads the schema only, so a serializer may use the
    class's declared instance without copying or binding it.
    """

    def __init__(self, schema: dict, **kwargs):
        self.shape = schema
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", schema.get("description"))
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data is None:  # the shape says whether null is a value (`nullable`)
            check(data, self.shape)
            return True, None
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        check(data, self.shape)
        return data

    def to_representation(self, value):
        return value


def published(schema: dict, open_value: dict) -> dict:
    """`schema` as the OpenAPI 3.1 document states it: null as a type (`nullable` is 3.0's,
    and this module's), and what the request parser refuses anywhere said wherever the shape
    leaves something open: keys without NUL, numbers within signed 64 bits
    (dgen_ping_site.parsers). `open_value` is the schema of a value under an undeclared key."""
    out = {key: value for key, value in schema.items() if key != "nullable"}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = published(out[key], open_value)
    if "properties" in out:
        out["properties"] = {
            name: published(inner, open_value) for name, inner in out["properties"].items()
        }
    if "oneOf" in out:
        out["oneOf"] = [published(branch, open_value) for branch in out["oneOf"]]
    if out.get("type") == "object":
        out.setdefault("additionalProperties", open_value)
        out["propertyNames"] = JSON_KEY
    elif out.get("type") in ("integer", "number"):
        out.setdefault("minimum", INT64[0])
        out.setdefault("maximum", INT64[1])
    return _or_null(out) if schema.get("nullable") else out


def _or_null(schema: dict) -> dict:
    if "oneOf" in schema:
        return {**schema, "oneOf": [*schema["oneOf"], {"type": "null"}]}
    nullable = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        nullable["enum"] = [*schema["enum"], None]
    return nullable


class ShapeFieldExtension(OpenApiSerializerFieldExtension):
    """The schema of a ShapeField is its shape, as published (its description is the
    field's help text)."""

    target_class = ShapeField

    def map_serializer_field(self, auto_schema, direction):
        schema = published(self.target.shape, json_value(auto_schema))
        return {key: value for key, value in schema.items() if key != "description"}
