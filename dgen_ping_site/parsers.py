"""JSON request bodies, refused at the edge when a store or a client library could not take
them: 400 with the JSON path of what is wrong.

Refused: bodies that are not UTF-8 or not JSON; a lone surrogate (half of a UTF-16 pair,
`"\\ud800"`) in any string or key, which UTF-8 cannot encode, so neither can the telemetry
stores, the upstreams or our own answers; a NUL in a key (MongoDB refuses such keys);
numbers outside signed 64 bits (BSON's largest integer; no field of the API needs a larger
float either, and the schema can then say so with one minimum and maximum for every number);
nesting deeper than MAX_DEPTH.

Read as JSON Schema reads them: a number without a fraction is an integer, however it is
written (`15.0` is 15), so what the schema calls an integer is one for every view, serializer
and upstream behind the parser. JSON has one number type: the value is the same.

orjson parses (several times faster than json): it already refuses lone surrogates and
nesting beyond 1,024, but says where a surrogate is only as a character offset; in that rare
case the body is parsed again with the standard library, which keeps it, to name the field.
"""

import json
import re

import orjson
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 64
# Signed 64 bits, made symmetric: orjson reads an integer below -2**63 as the float -2**63, so
# that value could stand for a larger one; no field of the API needs it.
INT64 = (-(2**63 - 1), 2**63 - 1)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class StrictJSONParser(JSONParser):
    """DRF's JSON parser (same media type) with the refusals of this module."""

    def parse(self, stream, media_type=None, parser_context=None):
        return load(stream.read())


def load(body: bytes):
    """The JSON value of `body`; ParseError or ValidationError (field-level) when refused."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _refusal_of_unparsable(body, str(exc)) from None
    problem = first_problem(value)
    if problem:
        raise _field_error(*problem)
    return value


def _refusal_of_unparsable(body: bytes, reason: str) -> Exception:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ParseError(
            f"The request body is not valid UTF-8 (byte {exc.start}); send JSON in UTF-8."
        )
    if "surrogate" in reason:  # json reads lone surrogates, so the field can be named
        try:
            problem = first_problem(json.loads(text))
        except (ValueError, RecursionError):
            problem = None
        if problem:
            return _field_error(*problem)
    return ParseError(f"JSON parse error - {reason}")  # DRF's wording, which clients know


def first_problem(value) -> tuple[list, str] | None:
    """(path, message) of the first refused part of a parsed body, or None; on the way,
    integral floats inside it become ints (in place).

    Iterative, so a deep body cannot exhaust the stack; stops at the first problem.
    """
    pending = [(value, [], 1)]
    while pending:
        node, path, depth = pending.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                return path, f"Nested deeper than {MAX_DEPTH} levels."
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, item in items:
                if isinstance(key, str) and (message := _key_problem(key)):
                    return [*path, key], message
                if isinstance(item, float) and item.is_integer() and INT64[0] <= item <= INT64[1]:
                    node[key] = int(item)  # a value replaced, not a key added: safe mid-loop
                else:
                    pending.append((item, [*path, key], depth + 1))
        elif message := _scalar_problem(node):
            return path, message
    return None


def _key_problem(key: str) -> str | None:
    if "\x00" in key:
        return "Keys must not contain NUL (\\u0000)."
    if _LONE_SURROGATE.search(key):
        return "Keys must not contain a lone surrogate (\\ud800-\\udfff): it is not Unicode text."
    return None


def _scalar_problem(node) -> str | None:
    if isinstance(node, str):
        if _LONE_SURROGATE.search(node):
            return (
                "A lone surrogate (\\ud800-\\udfff) is not Unicode text; send the character itself."
            )
    elif isinstance(node, int | float) and not isinstance(node, bool):
        if not INT64[0] <= node <= INT64[1]:
            return f"Numbers must be between {INT64[0]} and {INT64[1]} (signed 64 bits)."
    return None


def _field_error(path: list, message: str) -> ValidationError:
    return ValidationError({field_name(path): [message]})


def field_name(path: list) -> str:
    """A JSON path as one printable name: `messages.0.content` (`body` for the whole)."""
    if not path:
        return "body"
    parts = (str(part).encode("utf-8", "backslashreplace").decode() for part in path)
    return ".".join(part.replace("\x00", "\\u0000") for part in parts)
