"""A small subset of JSON Schema, checked fast: the schema we publish is the check we run.

Pass-through bodies (OpenAI's) are large and mostly the upstream's business. The gateway
checks the types and limits it documents, nothing more, and converts nothing: the body goes
on as it came. Keywords: type, nullable (OpenAPI 3.0's null), enum, minimum, maximum,
minLength, minItems, maxItems, items, properties, required, additionalProperties (a schema),
oneOf. oneOf branches must not overlap (they differ by type or by an enum), so the first
branch that fits is the only one.
"""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

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
        kwargs.setdefault("allow_null", bool(schema.get("nullable")))
        kwargs.setdefault("help_text", schema.get("description"))
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        check(data, self.shape)
        return data

    def to_representation(self, value):
        return value


class ShapeFieldExtension(OpenApiSerializerFieldExtension):
    """The schema of a ShapeField is its shape."""

    target_class = ShapeField

    def map_serializer_field(self, auto_schema, direction):
        return {key: value for key, value in self.target.shape.items() if key != "description"}
