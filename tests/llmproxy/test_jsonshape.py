"""The JSON-shape checker behind the OpenAI request serializers (llmproxy.jsonshape)."""

import pytest

from llmproxy.jsonshape import ShapeError, check

STOP = {
    "nullable": True,
    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
}
PART = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string"},
        "image_url": {"type": "object", "required": ["url"]},
    },
}


@pytest.mark.parametrize(
    ("value", "schema"),
    [
        (1, {"type": "number"}),
        (1.5, {"type": "number", "minimum": 0, "maximum": 2}),
        (None, {"type": "integer", "nullable": True}),
        ("END", STOP),
        (["a", "b"], STOP),
        ({"type": "text", "extra": [1]}, PART),  # undeclared keys are the upstream's
        ({"a": 1, "b": -1}, {"type": "object", "additionalProperties": {"type": "integer"}}),
        ("x", {"type": "string", "minLength": 1, "enum": ["x"]}),
    ],
)
def test_values_that_fit(value, schema):
    check(value, schema)


@pytest.mark.parametrize(
    ("value", "schema", "path", "message"),
    [
        (True, {"type": "integer"}, (), "Must be a JSON integer."),
        (True, {"type": "number"}, (), "Must be a JSON number."),
        (1.0, {"type": "integer"}, (), "Must be a JSON integer."),
        (None, {"type": "string"}, (), "This field may not be null."),
        (3, {"type": "number", "maximum": 2}, (), "Ensure this value is less than or equal to 2."),
        (4, STOP, (), "Must be a JSON string or array."),
        (["a", 1], STOP, (1,), "Must be a JSON string."),
        ({}, PART, ("type",), "This field is required."),
        (
            {"type": "image_url", "image_url": {}},
            PART,
            ("image_url", "url"),
            "This field is required.",
        ),
        (
            {"a": "1"},
            {"type": "object", "additionalProperties": {"type": "integer"}},
            ("a",),
            "Must be a JSON integer.",
        ),
        ([], {"type": "array", "minItems": 1}, (), "Must have at least 1 item(s)."),
        ([1, 2], {"type": "array", "maxItems": 1}, (), "Must have at most 1 item(s)."),
        ("", {"type": "string", "minLength": 1}, (), "Must have at least 1 character(s)."),
        ("y", {"type": "string", "enum": ["x"]}, (), "Must be one of: x."),
    ],
)
def test_values_that_do_not_fit_say_where_and_why(value, schema, path, message):
    with pytest.raises(ShapeError) as caught:
        check(value, schema)
    assert (caught.value.path, caught.value.message) == (path, message)
