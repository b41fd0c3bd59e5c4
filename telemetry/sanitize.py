"""Events as spool lines, whatever they hold: no input can cost a request its event.

An event carries what clients and upstreams sent (error text, metadata), so it may hold text
that is not Unicode (a lone surrogate), integers no store can keep (beyond 64 bits), keys
that are not text or hold a NUL, values JSON has no type for, or nesting without end. The
common event is serialised as it is; one that cannot be, or that holds a NUL in a key, is
serialised from a safe copy instead: lone surrogates become U+FFFD, NUL in keys too, an
integer field beyond 64 bits moves to `extra.invalid_fields` as text (as the schema does
with values of the wrong type), other large integers become text, anything else becomes
its str(), and nesting is cut at MAX_DEPTH.
"""

import orjson

from telemetry.schema import FIELD_TYPES, STORABLE_INT

INT64_MIN, INT64_MAX = STORABLE_INT
MAX_DEPTH = 64
REPLACEMENT = "\ufffd"


def spool_line(event: dict) -> bytes:
    """One JSON line (UTF-8, ending in a newline) holding the event, always."""
    try:
        line = orjson.dumps(event, default=str)
    except TypeError:  # orjson.JSONEncodeError: surrogates, big ints, odd keys, depth
        line = None
    if line is None or b"\\u0000" in line and _has_nul_key(event):
        line = orjson.dumps(safe_event(event), default=str)
    return line + b"\n"


def safe_event(event: dict) -> dict:
    """A copy of the event that every store can take (see the module's docstring)."""
    copy = {_key(name): _value(value, 1) for name, value in event.items()}
    extra = copy.get("extra") if isinstance(copy.get("extra"), dict) else {}
    for name, kind in FIELD_TYPES.items():
        value = event.get(name)
        if kind is int and isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            extra.setdefault("invalid_fields", {})[name] = _big_int(value)
            copy[name] = None
    if "extra" in copy:
        copy["extra"] = extra
    return copy


def _value(value, depth: int):
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else _big_int(value)
    if depth >= MAX_DEPTH:
        return f"<nested deeper than {MAX_DEPTH} levels>"
    if isinstance(value, dict):
        return {_key(key): _value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_value(item, depth + 1) for item in value]
    return _text(str(value))


def _key(key) -> str:
    return _text(key if isinstance(key, str) else str(key)).replace("\x00", REPLACEMENT)


def _text(text: str) -> str:
    """The text with lone surrogates replaced (a valid pair becomes its character)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _big_int(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than Python converts to text (4,300 by default)
        return f"<integer of {value.bit_length()} bits>"


def _has_nul_key(value, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return any("\x00" in key or _has_nul_key(item, depth + 1) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul_key(item, depth + 1) for item in value)
    return False
