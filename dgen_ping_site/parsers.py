"""JSON request bodies, refused at the edge when a store or a client library could not take
them: 400 with the JSON path of what is wrong.

Refused: bodies that are not UTF-8 or not JSON; a lone surrogate (half of a UTF-16 pair,
`"\\ud800"`) in any string or key, which UTF-8 cannot encode, so neither can the telemetry
stores, the upstreams or our own answers; a NUL in a key (MongoDB refuses such keys);
integers outside signed 64 bits (BSON's largest integer); nesting deeper than MAX_DEPTH.

orjson parses (several times faster than json): it already refuses lone surrogates and
nesting beyond 1,024, but turns integers beyond 64 bits into floats and says where a
surrogate is only as a character offset. In those rare cases the body is parsed again with
the standard library, which keeps both as they were sent, to name the field.
"""

import json
import re

import orjson
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 64
INT64 = (-(2**63), 2**63 - 1)
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
    if problem is UNSURE:
        # A float beyond 64 bits: sent as an integer, or as a float? json keeps it as sent.
        try:
            problem = first_problem(json.loads(body), exact=True)
        except RecursionError:  # deep as well: the depth is what to report
            problem = first_problem(value, exact=True)
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
            problem = first_problem(json.loads(text), exact=True)
        except (ValueError, RecursionError):
            problem = None
        if problem:
            return _field_error(*problem)
    return ParseError(f"JSON parse error - {reason}")  # DRF's wording, which clients know


# first_problem's answer when orjson's value cannot tell: a float beyond 64 bits, which is
# refused only if the body sent it as an integer.
UNSURE = ([], "")


def first_problem(value, exact: bool = False) -> tuple[list, str] | None:
    """(path, message) of the first refused part of a parsed body, or None; UNSURE when a
    number may have been an integer orjson could not hold (`exact`: the parser keeps them).

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
                pending.append((item, [*path, key], depth + 1))
        elif isinstance(node, float):
            if not exact and abs(node) >= 2**63 and node.is_integer():
                return UNSURE
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
    if isinstance(node, str) and _LONE_SURROGATE.search(node):
        return "A lone surrogate (\\ud800-\\udfff) is not Unicode text; send the character itself."
    if isinstance(node, int) and not isinstance(node, bool) and not INT64[0] <= node <= INT64[1]:
        return f"Integers must be between {INT64[0]} and {INT64[1]} (signed 64 bits)."
    return None


def _field_error(path: list, message: str) -> ValidationError:
    return ValidationError({field_name(path): [message]})


def field_name(path: list) -> str:
    """A JSON path as one printable name: `messages.0.content` (`body` for the whole)."""
    if not path:
        return "body"
    parts = (str(part).encode("utf-8", "backslashreplace").decode() for part in path)
    return ".".join(part.replace("\x00", "\\u0000") for part in parts)
